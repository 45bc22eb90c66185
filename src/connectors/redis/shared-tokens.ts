import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { CachedToken, SharedTokenMiss, SharedTokenRequest, SharedTokenStore } from "../token-cache.js";
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
 * Lua: stores what a lease holder fetched. The token only while the lease is still held (a connector changed
 * meanwhile dropped the lease, and must not get the old token back); a rotated refresh token always, because it is
 * the only one the server still accepts. KEYS: lease, token, tokens-of set, refresh, refresh-of set.
 * ARGV: owner, sealed token, token PX (0: do not store), sealed refresh token ('' = none), refresh PX.
 */
const STORE_SCRIPT = `
local function index(set, key, px)
  redis.call('SADD', set, key)
  if redis.call('PTTL', set) < tonumber(px) then redis.call('PEXPIRE', set, px) end
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[5])
  index(KEYS[5], KEYS[4], ARGV[5])
end
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
const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 100;

interface StoredToken {
  readonly entry: CachedToken;
  /** The value as stored, for a compare-and-delete. */
  readonly sealed: string;
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

  constructor(
    private readonly connection: RedisConnection,
    private readonly sealer: Sealer,
    options: { alwaysFetch?: boolean } = {},
  ) {
    this.#keys = fleetKeys(connection.keyPrefix);
    this.#alwaysFetch = options.alwaysFetch ?? false;
  }

  /**
   * The same store, but a stored token is never served: every miss fetches a new token (under the lease, with the
   * fleet's refresh token) and stores it. `flowrun record` uses it so that the token exchange is always recorded.
   */
  alwaysFetching(): RedisSharedTokens {
    return new RedisSharedTokens(this.connection, this.sealer, { alwaysFetch: true });
  }

  async obtain(request: SharedTokenRequest): Promise<CachedToken | SharedTokenMiss> {
    if (!this.connection.available) return "unavailable";
    const keys = this.#keysFor(request);
    let pollMs = FIRST_POLL_MS;
    try {
      for (;;) {
        const stored = await this.#read(keys.token, request.deadline);
        if (stored && this.#usable(stored.entry, request)) return stored.entry;
        if (stored && stored.entry.token.accessToken === request.refused)
          await this.#call(DELETE_IF_EQUAL_SCRIPT, [keys.token], [stored.sealed], request.deadline, "delete");
        const owner = randomUUID();
        if (
          await this.#call(
            ACQUIRE_SCRIPT,
            [keys.lease, keys.tokensOf],
            [owner, LEASE_MS],
            request.deadline,
            "lease",
          )
        )
          return await this.#fetchUnderLease(request, keys, owner);
        if (request.background) return "skipped";
        const left = request.deadline - performance.now();
        if (left <= 0)
          throw new DOMException(
            "waited until the deadline for the token another process of the fleet is fetching (its lease is still held)",
            "TimeoutError",
          );
        await sleep(Math.min(pollMs, left));
        pollMs = Math.min(MAX_POLL_MS, pollMs * 2);
      }
    } catch (error) {
      if (error instanceof RedisUnavailableError) return "unavailable";
      throw error;
    }
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
    let refreshToken: string | undefined;
    try {
      // Another holder may have stored a token between our read and taking the lease.
      const stored = await this.#read(keys.token, request.deadline);
      if (stored && this.#usable(stored.entry, request)) {
        await release();
        return stored.entry;
      }
      if (keys.refresh) refreshToken = await this.#readRefreshToken(keys.refresh, request.deadline);
    } catch (error) {
      await release();
      throw error;
    }
    let fetched: Awaited<ReturnType<SharedTokenRequest["fetch"]>>;
    const renewal = setInterval(() => {
      const until = performance.now() + this.connection.commandTimeoutMs;
      this.#call(RENEW_SCRIPT, [keys.lease, keys.tokensOf], [owner, LEASE_MS], until, "renew").catch(
        () => {},
      );
    }, LEASE_RENEW_MS);
    renewal.unref();
    try {
      fetched = await request.fetch(refreshToken);
    } catch (error) {
      await release();
      throw error;
    } finally {
      clearInterval(renewal);
    }
    const used = refreshToken ?? request.configuredRefreshToken;
    const rotated =
      keys.refresh && fetched.refreshToken && fetched.refreshToken !== used
        ? fetched.refreshToken
        : undefined;
    await this.#store(keys, owner, fetched.entry, rotated).catch((error: unknown) => {
      // The server has already retired the refresh token the fleet holds: say so, the other processes' next
      // refresh will be refused until an admin stores a new one.
      if (rotated)
        this.connection.warn(
          `could not share a rotated refresh token through Redis (${error instanceof Error ? error.message : String(error)}); other processes' refreshes may be refused with invalid_grant`,
        );
      return release();
    });
    return fetched.entry;
  }

  async #store(
    keys: TokenKeys,
    owner: string,
    entry: CachedToken,
    rotated: string | undefined,
  ): Promise<void> {
    const ttl = Math.floor(entry.expiresAt - Date.now());
    const sealedToken =
      ttl > 0
        ? this.sealer.seal(
            JSON.stringify({ ...entry, token: { ...entry.token, refreshToken: undefined } }),
            keys.token,
          )
        : "";
    const sealedRefresh = rotated && keys.refresh ? this.sealer.seal(rotated, keys.refresh) : "";
    await this.#call(
      STORE_SCRIPT,
      [keys.lease, keys.token, keys.tokensOf, keys.refresh ?? keys.lease, keys.refreshOf],
      [owner, sealedToken, ttl > 0 ? ttl : 0, sealedRefresh, REFRESH_TOKEN_TTL_MS],
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

  async #readRefreshToken(key: string, deadline: number): Promise<string | undefined> {
    const sealed = await this.#readSealed(key, deadline);
    return sealed === undefined ? undefined : this.sealer.open(sealed, key);
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
