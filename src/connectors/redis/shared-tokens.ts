import { randomUUID } from "node:crypto";
import { type BackoffPolicy, backoffMs } from "../../core/budget.js";
import { REFRESH_LIMIT_MS } from "../connector-handle.js";
import { AuthError } from "../errors.js";
import {
  type HeldRefreshToken,
  newerRefreshToken,
  splitGeneration,
  withGeneration,
} from "../refresh-chain.js";
import type {
  CachedToken,
  RefreshChainKey,
  SharedTokenMiss,
  SharedTokenRequest,
  SharedTokenStore,
} from "../token-cache.js";
import { bounded, type RedisConnection, RedisUnavailableError } from "./connection.js";
import { type FleetKeys, fleetKeys } from "./keys.js";
import type { Sealer } from "./sealing.js";

/** Lua: takes the lease when nobody holds it, and indexes it under its connector (a change drops it). */
const ACQUIRE_SCRIPT = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('SADD', KEYS[2], KEYS[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`;

/** Lua: extends the lease (and its index) while its holder is still fetching, only if it still holds it. */
const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`;

/**
 * Lua: deletes a key only while it still holds the expected value: releases a lease only if this process still
 * holds it (it may have expired and been taken over), deletes a token the API refused unless another process
 * already replaced it.
 */
const DELETE_IF_EQUAL_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Lua, shared by the scripts that write a refresh token: compare-and-set on its generation (the stored value is
 * `<generation>:<sealed>`). A generation older than or equal to the stored one is not written: a newer refresh
 * token is never replaced by an older one, whoever writes last. Returns 1 when written.
 */
const WRITE_REFRESH_LUA = `
local function index(set, key, px)
  redis.call('SADD', set, key)
  if redis.call('PTTL', set) < tonumber(px) then redis.call('PEXPIRE', set, px) end
end
local function write_refresh(key, set, value, generation, px)
  local stored = redis.call('GET', key)
  if stored then
    local stored_generation = tonumber(string.match(stored, '^(%d+):') or '0')
    if stored_generation >= tonumber(generation) then return 0 end
  end
  redis.call('SET', key, value, 'PX', px)
  index(set, key, px)
  return 1
end
`;

/** Lua: writes back a refresh token rotated without the lease. KEYS: refresh, refresh-of set. ARGV: value, generation, PX. */
const WRITE_BACK_SCRIPT = `${WRITE_REFRESH_LUA}
return write_refresh(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
`;

/**
 * Lua: stores what a lease holder fetched. The token only while the lease is still held (a connector changed
 * meanwhile dropped the lease, and must not get the old token back); a rotated refresh token whether or not the
 * lease is still held, because it is the only one the server still accepts, but only over an older generation.
 * KEYS: lease, token, tokens-of set, refresh, refresh-of set.
 * ARGV: owner, sealed token, token PX (0: do not store), `<generation>:<sealed>` refresh token ('' = none),
 * refresh PX, refresh generation.
 */
const STORE_SCRIPT = `${WRITE_REFRESH_LUA}
if ARGV[4] ~= '' then write_refresh(KEYS[4], KEYS[5], ARGV[4], ARGV[6], ARGV[5]) end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  index(KEYS[3], KEYS[2], ARGV[3])
end
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * How long a rotated refresh token is kept: longer than any vendor keeps an unused one (Webex 90 days, Google 6
 * months idle). Renewed at every rotation.
 */
const REFRESH_TOKEN_TTL_MS = 400 * 24 * 3600 * 1000;
/**
 * A lease lasts this long unless its holder renews it (every LEASE_RENEW_MS while it fetches): a holder that dies
 * is replaced within LEASE_MS, whatever its fetch's time limit (30 s for a proactive refresh).
 */
const LEASE_MS = 3000;
const LEASE_RENEW_MS = 1000;
/**
 * The lease of a refresh-token grant outlives the refresh itself (REFRESH_LIMIT_MS) even if no renewal gets
 * through: while a refresh token may be in flight, no other process is given the lease to spend it too (the
 * fencing argument is in docs/decisions.md).
 */
const REFRESH_LEASE_MS = REFRESH_LIMIT_MS + 5000;
/**
 * After Redis comes back, processes write back the refresh tokens they hold (a Redis restarted without its data, or
 * from an old snapshot, holds an older generation or none) before any of them takes a refresh lease: this long.
 */
const SETTLE_AFTER_RECONNECT_MS = 2500;
/**
 * Polls for another process's token: 5 ms doubling to 100 ms, without jitter (the lease holder stores the token
 * once; the waiters read it, and reads do not contend).
 */
const POLL_BACKOFF: BackoffPolicy = { baseMs: 5, maxMs: 100, jitter: 0 };

interface StoredToken {
  readonly entry: CachedToken;
  /** The value as stored, for a compare-and-delete. */
  readonly sealed: string;
}

/**
 * What a process does for a refresh-token grant while Redis cannot be used (docs/fleet.md): `wait` fails the run
 * with `token-store-unavailable` rather than spend the fleet's refresh token without the lease; `refresh-locally`
 * refreshes in this process and writes the rotated token back when Redis answers again.
 */
export type RefreshWhileUnreachable = "wait" | "refresh-locally";

export interface SharedTokensOptions {
  /** Every miss fetches a new token (`flowrun record`). */
  readonly alwaysFetch?: boolean;
  /** Default `wait`. */
  readonly refreshWhileUnreachable?: RefreshWhileUnreachable;
}

/** A refresh token chain this process holds, kept to be written back after Redis comes back. */
interface HeldChain {
  readonly connectorId: string;
  readonly refreshOf: string;
  readonly held: () => HeldRefreshToken | undefined;
}

interface TokenKeys {
  readonly token: string;
  readonly lease: string;
  readonly tokensOf: string;
  readonly refresh: string | undefined;
  readonly refreshOf: string;
}

/**
 * Tokens shared by a fleet through Redis, behind each engine's own cache: asked only on a miss.
 * Distributed single flight: the process that takes a connector's lease (SET NX PX with an owner) fetches; the
 * others poll for its result within their own deadline; a holder that dies is replaced when its lease expires.
 * Refresh-token grants read the rotated refresh token under the lease and store the next one before releasing it,
 * so a refresh token is never spent twice. Everything stored is sealed (AES-256-GCM) and expires with its token.
 */
export class RedisSharedTokens implements SharedTokenStore {
  readonly #keys: FleetKeys;
  readonly #alwaysFetch: boolean;
  readonly #refreshWhileUnreachable: RefreshWhileUnreachable;
  /** By refresh key: the chains this process holds (written back after a reconnect). */
  readonly #chains = new Map<string, HeldChain>();
  /** By refresh key: refresh tokens rotated without the store, not yet written back. */
  readonly #unshared = new Map<string, { chain: HeldChain; held: HeldRefreshToken }>();
  /** `performance.now()` before which no refresh lease is taken (just reconnected). */
  #settleUntil = 0;

  constructor(
    private readonly connection: RedisConnection,
    private readonly sealer: Sealer,
    private readonly options: SharedTokensOptions = {},
  ) {
    this.#keys = fleetKeys(connection.keyPrefix, connection.cluster);
    this.#alwaysFetch = options.alwaysFetch ?? false;
    this.#refreshWhileUnreachable = options.refreshWhileUnreachable ?? "wait";
    connection.commands.on("ready", this.#onReconnect);
  }

  /**
   * The same store, but a stored token is never served: every miss fetches a new token (under the lease, with the
   * fleet's refresh token) and stores it. `flowrun record` uses it so that the token exchange is always recorded.
   */
  alwaysFetching(): RedisSharedTokens {
    return new RedisSharedTokens(this.connection, this.sealer, { ...this.options, alwaysFetch: true });
  }

  async obtain(request: SharedTokenRequest): Promise<CachedToken | SharedTokenMiss> {
    const keys = this.#keysFor(request);
    if (keys.refresh) this.#hold(keys.refresh, keys, request);
    if (!this.connection.available) return this.#unavailable(request, "Redis is not connected");
    if (keys.refresh && performance.now() < this.#settleUntil)
      return this.#unavailable(request, "Redis has just come back; its refresh tokens are being reconciled");
    // Not awaited: commands on one connection run in order, so the write-back lands before this request's reads.
    if (this.#unshared.size > 0) void this.#flushWriteBacks();
    try {
      for (let poll = 1; ; poll++) {
        const stored = await this.#read(keys.token, request.budget.deadline);
        if (stored && this.#usable(stored.entry, request)) return stored.entry;
        if (stored && stored.entry.token.accessToken === request.refused)
          await this.#call(
            DELETE_IF_EQUAL_SCRIPT,
            [keys.token],
            [stored.sealed],
            request.budget.deadline,
            "delete",
          );
        const owner = randomUUID();
        if (
          await this.#call(
            ACQUIRE_SCRIPT,
            [keys.lease, keys.tokensOf],
            [owner, keys.refresh ? REFRESH_LEASE_MS : LEASE_MS],
            request.budget.deadline,
            "lease",
          )
        )
          return await this.#fetchUnderLease(request, keys, owner);
        if (request.background) return "skipped";
        const left = request.budget.remaining();
        if (left <= 0)
          throw new DOMException(
            "waited until the deadline for the token another process of the fleet is fetching (its lease is still held)",
            "TimeoutError",
          );
        // On the budget's clock (a test's fake one reaches the polls too); not on its signal: the request is the
        // flight's, shared by every caller waiting for the token.
        const { clock } = request.budget;
        await clock.sleep(Math.min(backoffMs(POLL_BACKOFF, poll, clock), left));
      }
    } catch (error) {
      if (error instanceof RedisUnavailableError) return this.#unavailable(request, error.message);
      throw error;
    }
  }

  /**
   * Redis cannot be used now. Tokens of other grants are fetched in this process; a rotating refresh token is not
   * spent without the lease unless the fleet chose `refresh-locally` (docs/fleet.md says why).
   */
  #unavailable(request: SharedTokenRequest, why: string): SharedTokenMiss {
    if (request.configuredRefreshToken === undefined || this.#refreshWhileUnreachable === "refresh-locally")
      return "unavailable";
    throw new AuthError(
      `connector ${request.connectorId}: no token refresh without the fleet's token store (${why}); the refresh token is single use and is not spent outside the lease (refreshWhileUnreachable: "wait")`,
      { code: "token-store-unavailable" },
    );
  }

  /**
   * A refresh token rotated without the lease: written back now, or as soon as Redis answers (compare-and-set on
   * the generation, so a newer one another process stored wins). Warned about: until it is written back, the
   * other processes hold a spent token.
   */
  writeBack(chain: RefreshChainKey, held: HeldRefreshToken): void {
    const keys = this.#keysFor({ ...chain, background: false } as SharedTokenRequest);
    if (!keys.refresh) return;
    const holder = this.#hold(keys.refresh, keys, { ...chain, held: () => held });
    this.#unshared.set(keys.refresh, { chain: holder, held });
    this.connection.warn(
      `connector ${chain.connectorId}: refreshed its token without the fleet's lease (Redis unreachable or slow); the rotated refresh token (generation ${held.generation}) is written back to Redis as soon as it answers`,
    );
    if (this.connection.available) void this.#flushWriteBacks();
  }

  /**
   * Remembers the chain for a write-back after a reconnect. A newer generation replaces what is remembered (a
   * handle rebuilt after a connector change brings its own), an older one does not.
   */
  #hold(
    refreshKey: string,
    keys: TokenKeys,
    request: Pick<SharedTokenRequest, "connectorId" | "held">,
  ): HeldChain {
    let chain = this.#chains.get(refreshKey);
    const known = chain?.held()?.generation ?? -1;
    if (!chain || (request.held()?.generation ?? -1) >= known) {
      chain = { connectorId: request.connectorId, refreshOf: keys.refreshOf, held: request.held };
      this.#chains.set(refreshKey, chain);
    }
    return chain;
  }

  /** Writes back what was rotated without the store; what still fails stays queued. */
  async #flushWriteBacks(): Promise<void> {
    for (const [refreshKey, { chain, held }] of [...this.#unshared]) {
      try {
        await this.#writeRefresh(refreshKey, chain.refreshOf, held);
        if (this.#unshared.get(refreshKey)?.held === held) this.#unshared.delete(refreshKey);
      } catch {
        return;
      }
    }
  }

  /**
   * Redis is back (possibly restarted without its data, or from an old snapshot): every refresh token this process
   * holds is written back (compare-and-set keeps the newest), and refresh leases wait for the others to do the same.
   */
  readonly #onReconnect = (): void => {
    this.#settleUntil = performance.now() + SETTLE_AFTER_RECONNECT_MS;
    for (const [refreshKey, chain] of this.#chains) {
      const held = chain.held();
      if (held && !this.#unshared.has(refreshKey)) this.#unshared.set(refreshKey, { chain, held });
    }
    void this.#flushWriteBacks();
  };

  async #writeRefresh(refreshKey: string, refreshOf: string, held: HeldRefreshToken): Promise<boolean> {
    const value = withGeneration(held.generation, this.sealer.seal(held.refreshToken, refreshKey));
    const written = await this.#call(
      WRITE_BACK_SCRIPT,
      [refreshKey, refreshOf],
      [value, held.generation, REFRESH_TOKEN_TTL_MS],
      performance.now() + this.connection.commandTimeoutMs,
      "write-back",
    );
    return written === 1;
  }

  async #fetchUnderLease(request: SharedTokenRequest, keys: TokenKeys, owner: string): Promise<CachedToken> {
    const release = () =>
      this.#call(
        DELETE_IF_EQUAL_SCRIPT,
        [keys.lease],
        [owner],
        performance.now() + this.connection.commandTimeoutMs,
        "release",
      ).catch(() => undefined);
    let stored: HeldRefreshToken | undefined;
    try {
      // Another holder may have stored a token between our read and taking the lease.
      const token = await this.#read(keys.token, request.budget.deadline);
      if (token && this.#usable(token.entry, request)) {
        await release();
        return token.entry;
      }
      if (keys.refresh) stored = await this.#readRefreshToken(keys.refresh, request.budget.deadline);
    } catch (error) {
      await release();
      throw error;
    }
    const lease = this.#renewWhileFetching(request, keys, owner);
    let fetched: Awaited<ReturnType<SharedTokenRequest["fetch"]>>;
    try {
      fetched = await this.#fetchAdoptingNewer(request, keys, stored);
    } catch (error) {
      lease.stop();
      await release();
      throw error;
    }
    lease.stop();
    const held = keys.refresh ? request.held() : undefined;
    const newer = held && (stored === undefined || held.generation > stored.generation) ? held : undefined;
    await this.#store(keys, owner, fetched.entry, newer).catch((error: unknown) => {
      // The server has already retired the refresh token the fleet holds: it is written back when Redis answers.
      if (newer && keys.refresh) {
        this.connection.warn(
          `connector ${request.connectorId}: could not store the rotated refresh token in Redis (${error instanceof Error ? error.message : String(error)})`,
        );
        this.writeBack(request, newer);
      }
      return release();
    });
    return fetched.entry;
  }

  /**
   * Fetches with the newer of the stored refresh token and the one this process holds. On `invalid_grant` the
   * store is read again: a process that refreshed without the lease may have written back a newer generation
   * meanwhile, which is tried once.
   */
  async #fetchAdoptingNewer(
    request: SharedTokenRequest,
    keys: TokenKeys,
    stored: HeldRefreshToken | undefined,
  ): ReturnType<SharedTokenRequest["fetch"]> {
    const held = request.held();
    const used = held ? newerRefreshToken(held, stored) : stored;
    try {
      return await request.fetch(stored);
    } catch (error) {
      if (!(error instanceof AuthError && error.code === "invalid-grant") || !keys.refresh || !used)
        throw error;
      const again = await this.#readRefreshToken(
        keys.refresh,
        performance.now() + this.connection.commandTimeoutMs,
      ).catch(() => undefined);
      if (!again || again.generation <= used.generation) throw error;
      return request.fetch(again);
    }
  }

  /**
   * Renews the lease while the fetch runs. A renewal that fails is noticed: the holder warns once and no longer
   * counts on the lease (what it fetched is still written back by generation, which needs no lease).
   */
  #renewWhileFetching(request: SharedTokenRequest, keys: TokenKeys, owner: string): { stop(): void } {
    const leaseMs = keys.refresh ? REFRESH_LEASE_MS : LEASE_MS;
    let warned = false;
    const renewal = setInterval(() => {
      const until = performance.now() + this.connection.commandTimeoutMs;
      this.#call(RENEW_SCRIPT, [keys.lease, keys.tokensOf], [owner, leaseMs], until, "renew").then(
        (renewed) => {
          if (renewed === 1 || warned) return;
          warned = true;
          this.connection.warn(
            `connector ${request.connectorId}: lost the token lease while refreshing (it expired or Redis lost it); the result is stored only over an older generation`,
          );
          clearInterval(renewal);
        },
        () => {
          if (warned || !keys.refresh) return;
          warned = true;
          this.connection.warn(
            `connector ${request.connectorId}: could not renew the token lease while refreshing (Redis unreachable or slow); the rotated refresh token is written back when Redis answers`,
          );
        },
      );
    }, LEASE_RENEW_MS);
    renewal.unref();
    return { stop: () => clearInterval(renewal) };
  }

  async #store(
    keys: TokenKeys,
    owner: string,
    entry: CachedToken,
    refresh: HeldRefreshToken | undefined,
  ): Promise<void> {
    const ttl = Math.floor(entry.expiresAt - Date.now());
    const sealedToken =
      ttl > 0
        ? this.sealer.seal(
            JSON.stringify({ ...entry, token: { ...entry.token, refreshToken: undefined } }),
            keys.token,
          )
        : "";
    const sealedRefresh =
      refresh && keys.refresh
        ? withGeneration(refresh.generation, this.sealer.seal(refresh.refreshToken, keys.refresh))
        : "";
    await this.#call(
      STORE_SCRIPT,
      [keys.lease, keys.token, keys.tokensOf, keys.refresh ?? keys.lease, keys.refreshOf],
      [owner, sealedToken, ttl > 0 ? ttl : 0, sealedRefresh, REFRESH_TOKEN_TTL_MS, refresh?.generation ?? 0],
      // The token is already fetched: storing it gets its own short bound rather than the caller's deadline.
      performance.now() + this.connection.commandTimeoutMs,
      "store",
    );
  }

  #usable(entry: CachedToken, request: SharedTokenRequest): boolean {
    if (this.#alwaysFetch) return false;
    const now = Date.now();
    if (now >= entry.expiresAt || entry.token.accessToken === request.refused) return false;
    if (!request.background) return true;
    return entry.token.accessToken !== request.current && now < entry.refreshAt;
  }

  /**
   * A call on the request path. A slow Redis (no answer within `requestTimeoutMs`) counts as unavailable, so the
   * process fetches the token itself; the caller's deadline passing first is a timeout: there is no time left to
   * fetch, and fetching anyway could spend a refresh token outside the lease.
   */
  #bounded<T>(call: Promise<T>, deadline: number, what: string): Promise<T> {
    const slowAfter = performance.now() + this.connection.requestTimeoutMs;
    if (slowAfter < deadline) return bounded(call, slowAfter, what);
    return bounded(
      call,
      deadline,
      what,
      () => new DOMException(`the deadline passed during a Redis ${what}`, "TimeoutError"),
    );
  }

  async #read(key: string, deadline: number): Promise<StoredToken | undefined> {
    const sealed = await this.#readSealed(key, deadline);
    if (sealed === undefined) return undefined;
    return { entry: JSON.parse(this.sealer.open(sealed, key)) as CachedToken, sealed };
  }

  async #readRefreshToken(key: string, deadline: number): Promise<HeldRefreshToken | undefined> {
    const stored = await this.#readSealed(key, deadline);
    if (stored === undefined) return undefined;
    const { generation, value } = splitGeneration(stored);
    return { refreshToken: this.sealer.open(value, key), generation };
  }

  async #readSealed(key: string, deadline: number): Promise<string | undefined> {
    const sealed = await this.#bounded(this.connection.commands.get(key), deadline, "read");
    return sealed ?? undefined;
  }

  #call(
    script: string,
    keys: string[],
    args: (string | number)[],
    deadline: number,
    what: string,
  ): Promise<unknown> {
    return this.#bounded(
      this.connection.commands.eval(script, keys.length, ...keys, ...args),
      deadline,
      what,
    );
  }

  #keysFor(request: SharedTokenRequest): TokenKeys {
    const id = request.connectorId;
    const settings = this.sealer.nameFor(request.key);
    return {
      token: this.#keys.token(id, settings),
      lease: this.#keys.lease(id, settings),
      tokensOf: this.#keys.tokensOf(id),
      refresh:
        request.configuredRefreshToken === undefined
          ? undefined
          : this.#keys.refresh(id, this.sealer.nameFor(`${id}\0${request.configuredRefreshToken}`)),
      refreshOf: this.#keys.refreshOf(id),
    };
  }
}
