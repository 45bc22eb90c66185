import { decodeJwt } from "jose";
import { LRUCache } from "lru-cache";
import { BACKGROUND_LIMIT_MS, Budget, isAbortError } from "../core/budget.js";
import type { TokenSet } from "./auth/token-set.js";
import { AuthError } from "./errors.js";
import { type HeldRefreshToken, RefusalBackoff } from "./refresh-chain.js";

export interface CachedToken {
  readonly token: TokenSet;
  /** Clock milliseconds: after `refreshAt` a use starts a background refresh; after `expiresAt` it is not served. */
  readonly refreshAt: number;
  readonly expiresAt: number;
}

export interface TokenCacheOptions {
  /** Most tokens kept (least recently used go first). Default 10,000. */
  max?: number;
  /** Safety margin before `expires_in`: this many seconds or 10 %, whichever is smaller. Default 60. */
  marginSeconds?: number;
  /** The clock, replaceable in tests. Default `Date.now`. */
  now?: () => number;
  /**
   * A second level shared by the processes of a fleet (Redis), asked only when this cache has no valid token: a
   * cached token is served without it. Default: none (every process fetches its own tokens).
   */
  shared?: SharedTokenStore;
}

/** What a shared token store answers instead of a token. */
export type SharedTokenMiss =
  /** Another process is already refreshing (background refresh only): keep serving the current token. */
  | "skipped"
  /** The store cannot be used now (down, slow): fetch in this process, single-flight per process. */
  | "unavailable";

export interface SharedTokenRequest {
  readonly key: string;
  readonly connectorId: string;
  /** A proactive refresh no caller waits for. */
  readonly background: boolean;
  /**
   * Waiting for the store or another process ends at its deadline; polls sleep on its clock. Not a caller's
   * signal: the request is shared by every caller of the flight.
   */
  readonly budget: Budget;
  /** An access token the API refused (reactive refresh): a stored copy of it is not served again. */
  readonly refused: string | undefined;
  /** Background refresh: the token being refreshed (a stored token other than it is newer). */
  readonly current: string | undefined;
  /** Refresh-token grants: the configured refresh token (a rotated one is stored keyed by it). */
  readonly configuredRefreshToken: string | undefined;
  /** Refresh-token grants: the newest refresh token this process holds, with its generation. */
  readonly held: () => HeldRefreshToken | undefined;
  /**
   * Makes the token request, with this refresh token instead of the one the process holds when given. After it,
   * `held()` is the refresh token the server issued (the next generation) or the one it kept.
   */
  readonly fetch: (
    refreshToken: HeldRefreshToken | undefined,
  ) => Promise<{ entry: CachedToken; refreshToken: string | undefined }>;
}

/** Which refresh token chain a write-back belongs to. */
export type RefreshChainKey = Pick<SharedTokenRequest, "key" | "connectorId" | "configuredRefreshToken">;

/**
 * A token store shared by many processes: one token request for the fleet however many processes need it.
 * Implemented over Redis by `RedisSharedTokens`.
 */
export interface SharedTokenStore {
  obtain(request: SharedTokenRequest): Promise<CachedToken | SharedTokenMiss>;
  /**
   * A refresh token rotated without the store (it could not be used): written back as soon as the store answers,
   * unless the store already holds a newer generation.
   */
  writeBack?(chain: RefreshChainKey, held: HeldRefreshToken): void;
}

export interface TokenLookup {
  /** Cache key: connector id plus settings fingerprint. */
  readonly key: string;
  readonly connectorId: string;
  /** Lifetime when the server says nothing (no `expires_in`, not a JWT), in seconds. */
  readonly defaultLifetimeSeconds: number;
  /**
   * Requests a token; `background` when no caller waits for it (proactive refresh). `refreshToken` replaces the
   * one the process holds (a newer rotated refresh token another process stored).
   */
  readonly fetch: (background: boolean, refreshToken?: HeldRefreshToken) => Promise<TokenSet>;
  /**
   * The caller's budget: its deadline is when the fetch must be done by (the activity deadline), its signal stops
   * the caller's wait (not the shared fetch), its clock is the one the shared store's polls sleep on.
   */
  readonly budget: Budget;
  /** Refresh-token grants: the refresh token the connector is configured with. */
  readonly configuredRefreshToken?: string;
  /** Refresh-token grants: the newest refresh token this process holds, with its generation. */
  readonly held?: () => HeldRefreshToken | undefined;
  /**
   * The fetch runs to its own time limit whatever the callers' deadlines (a refresh-token request, which must
   * not be abandoned once sent): a caller with more time left joins it rather than starting another.
   */
  readonly detached?: boolean;
  /** Names the connector in messages (`connector "Webex CC"`). */
  readonly owner?: string;
  /** Called with errors of background refreshes, which no caller awaits. */
  readonly onBackgroundError?: (error: unknown) => void;
}

export interface TokenUse {
  readonly token: TokenSet;
  /** Whether this use waited for a token request (false when served from the cache). */
  readonly fetched: boolean;
}

/** After another process took a proactive refresh, when to look for its result. */
const SKIPPED_REFRESH_RETRY_MS = 1000;

/**
 * One per engine. Single flight: however many runs ask for a missing or expired token at once, one request is
 * made and all of them wait for it. A token used in the last 10 % of its life is refreshed in the background
 * while it is still served.
 */
export class TokenCache {
  readonly #tokens: LRUCache<string, CachedToken>;
  readonly #inFlight = new Map<string, Promise<CachedToken>>();
  /** The deadline of the caller that started each flight (proactive refreshes have none). */
  readonly #deadlines = new WeakMap<Promise<CachedToken>, number>();
  readonly #keysByConnector = new Map<string, Set<string>>();
  /** Per key, the access token the API last refused, so that the shared store does not serve it again. */
  readonly #refused = new Map<string, string>();
  readonly #marginSeconds: number;
  readonly #now: () => number;
  readonly #shared: SharedTokenStore | undefined;
  /** Connectors whose refresh token the token endpoint refused moments ago. */
  readonly #refusals: RefusalBackoff;

  constructor(options: TokenCacheOptions = {}) {
    this.#tokens = new LRUCache({ max: options.max ?? 10_000 });
    this.#marginSeconds = options.marginSeconds ?? 60;
    this.#now = options.now ?? Date.now;
    this.#shared = options.shared;
    this.#refusals = new RefusalBackoff({ now: this.#now });
  }

  async use(lookup: TokenLookup): Promise<TokenUse> {
    const cached = this.#tokens.get(lookup.key);
    const now = this.#now();
    if (cached && now < cached.expiresAt) {
      // No proactive refresh while the connector's refresh token is in its refusal backoff: it would only fail,
      // and warn, at every use.
      if (
        now >= cached.refreshAt &&
        !this.#inFlight.has(lookup.key) &&
        !(lookup.held && this.#refusals.active(lookup.connectorId))
      ) {
        this.#start(lookup, true, cached).catch((error: unknown) => lookup.onBackgroundError?.(error));
      }
      return { token: cached.token, fetched: false };
    }
    // A caller that has already given up starts no fetch: nobody would await it, so its failure would be an
    // unhandled rejection (raceAbort() rejects at once without attaching handlers to the fetch).
    lookup.budget.signal.throwIfAborted();
    const joined = this.#inFlight.get(lookup.key);
    let entry: CachedToken;
    try {
      entry = await lookup.budget.race(joined ?? this.#start(lookup, false));
    } catch (error) {
      // A flight ends at the deadline of the caller that started it. One that joined it with more time left
      // starts its own rather than failing with the starter's timeout (a shorter activity deadline, or a wait for
      // another process's lease that the starter could not afford).
      const starterDeadline = joined && this.#deadlines.get(joined);
      if (
        !starterDeadline ||
        starterDeadline >= lookup.budget.deadline ||
        lookup.budget.signal.aborted ||
        !isAbortError(error)
      )
        throw error;
      entry = await lookup.budget.race(this.#inFlight.get(lookup.key) ?? this.#start(lookup, false));
    }
    return { token: entry.token, fetched: true };
  }

  /** Drops a token the API refused (reactive refresh), unless a newer one already replaced it. */
  invalidate(key: string, accessToken: string): void {
    if (this.#tokens.get(key)?.token.accessToken === accessToken) {
      this.#tokens.delete(key);
      if (this.#shared) this.#refused.set(key, accessToken);
    }
  }

  /** Drops every token of a connector at once (deactivated, edited or deleted). */
  dropConnector(connectorId: string): void {
    for (const key of this.#keysByConnector.get(connectorId) ?? []) {
      this.#tokens.delete(key);
      this.#inFlight.delete(key);
      this.#refused.delete(key);
    }
    this.#keysByConnector.delete(connectorId);
    this.#refusals.clear(connectorId);
  }

  /**
   * The connector's refresh token was rotated (by this process or another): a refusal of the older one says nothing
   * about the new one, which is tried at once.
   */
  refreshTokenRotated(connectorId: string): void {
    this.#refusals.clear(connectorId);
  }

  get size(): number {
    return this.#tokens.size;
  }

  #start(lookup: TokenLookup, background: boolean, current?: CachedToken): Promise<CachedToken> {
    const refreshGrant = lookup.held !== undefined;
    const obtained = refreshGrant
      ? this.#obtainRefreshing(lookup, background, current)
      : this.#obtain(lookup, background, current);
    const pending = obtained.then(
      (entry) => {
        // A connector dropped while its token was being fetched must not get the token back.
        if (this.#inFlight.get(lookup.key) === pending) {
          this.#tokens.set(lookup.key, entry);
          this.#inFlight.delete(lookup.key);
          if (entry.token.accessToken !== this.#refused.get(lookup.key)) this.#refused.delete(lookup.key);
        }
        return entry;
      },
      (error: unknown) => {
        if (this.#inFlight.get(lookup.key) === pending) this.#inFlight.delete(lookup.key);
        throw error;
      },
    );
    this.#inFlight.set(lookup.key, pending);
    if (!background && !lookup.detached) this.#deadlines.set(pending, lookup.budget.deadline);
    let keys = this.#keysByConnector.get(lookup.connectorId);
    if (!keys) {
      keys = new Set();
      this.#keysByConnector.set(lookup.connectorId, keys);
    }
    keys.add(lookup.key);
    return pending;
  }

  /** A refresh-token grant: not sent during the backoff after a refusal; a refusal starts (or extends) it. */
  async #obtainRefreshing(
    lookup: TokenLookup,
    background: boolean,
    current?: CachedToken,
  ): Promise<CachedToken> {
    // Checked where the refresh token would be sent, not before: during the backoff a token another process
    // stored is still read from the shared store.
    const owner = lookup.owner ?? `connector ${lookup.connectorId}`;
    const guarded: TokenLookup = Object.create(lookup, {
      fetch: {
        value: (inBackground: boolean, refreshToken?: HeldRefreshToken) => {
          this.#refusals.check(lookup.connectorId, owner);
          return lookup.fetch(inBackground, refreshToken);
        },
      },
    });
    try {
      const entry = await this.#obtain(guarded, background, current);
      this.#refusals.clear(lookup.connectorId);
      return entry;
    } catch (error) {
      if (error instanceof AuthError && error.code === "invalid-grant")
        this.#refusals.refused(lookup.connectorId, error.oauthError ?? error.code);
      throw error;
    }
  }

  /** From the shared store when there is one and it answers; else (or when it cannot be used) fetched here. */
  async #obtain(lookup: TokenLookup, background: boolean, current?: CachedToken): Promise<CachedToken> {
    const fetchHere = async () => {
      const before = lookup.held?.()?.generation;
      const entry = this.#entryFor(await lookup.fetch(background), lookup.defaultLifetimeSeconds);
      const after = lookup.held?.();
      // Rotated without the shared store: the fleet must learn of it, or it would keep the spent one.
      if (after !== undefined && after.generation !== before)
        this.#shared?.writeBack?.(
          {
            key: lookup.key,
            connectorId: lookup.connectorId,
            configuredRefreshToken: lookup.configuredRefreshToken,
          },
          after,
        );
      return entry;
    };
    if (!this.#shared) return fetchHere();
    const answer = await this.#shared.obtain({
      key: lookup.key,
      connectorId: lookup.connectorId,
      background,
      // A budget of the flight's own: no caller's signal, and no timer unless something waits on its signal.
      budget: background
        ? new Budget(performance.now() + BACKGROUND_LIMIT_MS, { clock: lookup.budget.clock })
        : lookup.budget.detached(),
      refused: this.#refused.get(lookup.key),
      current: current?.token.accessToken,
      configuredRefreshToken: lookup.configuredRefreshToken,
      held: () => lookup.held?.(),
      fetch: async (refreshToken) => {
        const token = await lookup.fetch(background, refreshToken);
        return {
          entry: this.#entryFor(token, lookup.defaultLifetimeSeconds),
          refreshToken: token.refreshToken,
        };
      },
    });
    if (answer === "unavailable") return fetchHere();
    if (answer !== "skipped") return answer;
    if (!current) return fetchHere();
    // Another process refreshes this token for the fleet; look again in a second rather than at every use.
    return { ...current, refreshAt: Math.min(current.expiresAt, this.#now() + SKIPPED_REFRESH_RETRY_MS) };
  }

  /** TTL: `expires_in` minus min(margin, 10 %); else the access token's JWT `exp`; else the type's default. */
  #entryFor(token: TokenSet, defaultLifetimeSeconds: number): CachedToken {
    const now = this.#now();
    let lifetime = token.expiresIn ?? jwtLifetime(token.accessToken, now) ?? defaultLifetimeSeconds;
    lifetime = Math.max(0, lifetime - Math.min(this.#marginSeconds, lifetime * 0.1));
    const lifetimeMs = lifetime * 1000;
    return { token, refreshAt: now + lifetimeMs * 0.9, expiresAt: now + lifetimeMs };
  }
}

function jwtLifetime(accessToken: string, now: number): number | undefined {
  if (accessToken.split(".").length !== 3) return undefined;
  try {
    const { exp } = decodeJwt(accessToken);
    return typeof exp === "number" ? Math.max(0, exp - now / 1000) : undefined;
  } catch {
    return undefined;
  }
}
