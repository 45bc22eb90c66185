import { decodeJwt } from "jose";
import { LRUCache } from "lru-cache";
import type { TokenSet } from "./auth/token-set.js";

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
}

export interface TokenLookup {
  /** Cache key: connector id plus settings fingerprint. */
  readonly key: string;
  readonly connectorId: string;
  /** Lifetime when the server says nothing (no `expires_in`, not a JWT), in seconds. */
  readonly defaultLifetimeSeconds: number;
  /** Requests a token; `background` when no caller waits for it (proactive refresh). */
  readonly fetch: (background: boolean) => Promise<TokenSet>;
  /** Stops waiting (not the shared fetch) when the caller's deadline passes. Read only by a caller that waits. */
  readonly signal: AbortSignal;
  /** Called with errors of background refreshes, which no caller awaits. */
  readonly onBackgroundError?: (error: unknown) => void;
}

export interface TokenUse {
  readonly token: TokenSet;
  /** Whether this use waited for a token request (false when served from the cache). */
  readonly fetched: boolean;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * One per engine. Single flight: however many runs ask for a missing or expired token at once, one request is
 * made and all of them wait for it. A token used in the last 10 % of its life is refreshed in the background
 * while it is still served.
 */
export class TokenCache {
  readonly #tokens: LRUCache<string, CachedToken>;
  readonly #inFlight = new Map<string, Promise<CachedToken>>();
  readonly #keysByConnector = new Map<string, Set<string>>();
  readonly #marginSeconds: number;
  readonly #now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.#tokens = new LRUCache({ max: options.max ?? 10_000 });
    this.#marginSeconds = options.marginSeconds ?? 60;
    this.#now = options.now ?? Date.now;
  }

  async use(lookup: TokenLookup): Promise<TokenUse> {
    const cached = this.#tokens.get(lookup.key);
    const now = this.#now();
    if (cached && now < cached.expiresAt) {
      if (now >= cached.refreshAt && !this.#inFlight.has(lookup.key)) {
        this.#start(lookup, true).catch((error: unknown) => lookup.onBackgroundError?.(error));
      }
      return { token: cached.token, fetched: false };
    }
    // A caller that has already given up starts no fetch: nobody would await it, so its failure would be an
    // unhandled rejection (abortable() rejects at once without attaching handlers to the fetch).
    lookup.signal.throwIfAborted();
    const pending = this.#inFlight.get(lookup.key) ?? this.#start(lookup, false);
    const entry = await abortable(pending, lookup.signal);
    return { token: entry.token, fetched: true };
  }

  /** Drops a token the API refused (reactive refresh), unless a newer one already replaced it. */
  invalidate(key: string, accessToken: string): void {
    if (this.#tokens.get(key)?.token.accessToken === accessToken) this.#tokens.delete(key);
  }

  /** Drops every token of a connector at once (deactivated, edited or deleted). */
  dropConnector(connectorId: string): void {
    for (const key of this.#keysByConnector.get(connectorId) ?? []) {
      this.#tokens.delete(key);
      this.#inFlight.delete(key);
    }
    this.#keysByConnector.delete(connectorId);
  }

  get size(): number {
    return this.#tokens.size;
  }

  #start(lookup: TokenLookup, background: boolean): Promise<CachedToken> {
    const pending = lookup.fetch(background).then(
      (token) => {
        const entry = this.#entryFor(token, lookup.defaultLifetimeSeconds);
        // A connector dropped while its token was being fetched must not get the token back.
        if (this.#inFlight.get(lookup.key) === pending) {
          this.#tokens.set(lookup.key, entry);
          this.#inFlight.delete(lookup.key);
        }
        return entry;
      },
      (error: unknown) => {
        if (this.#inFlight.get(lookup.key) === pending) this.#inFlight.delete(lookup.key);
        throw error;
      },
    );
    this.#inFlight.set(lookup.key, pending);
    let keys = this.#keysByConnector.get(lookup.connectorId);
    if (!keys) {
      keys = new Set();
      this.#keysByConnector.set(lookup.connectorId, keys);
    }
    keys.add(lookup.key);
    return pending;
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
