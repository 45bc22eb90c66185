import { Agent } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { TokenSet } from "../../../src/connectors/auth/token-set.js";
import { connectorHandle } from "../../../src/connectors/connector-handle.js";
import { TokenCache, type TokenLookup } from "../../../src/connectors/token-cache.js";
import { Budget } from "../../../src/core/budget.js";
import { callWithin, fakeJwt, profileFor } from "../../helpers/auth.js";
import { startTokenServer, type TokenServer, tokenAnswer } from "../../helpers/token-server.js";

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

/** A clock the test moves by hand. */
function manualClock(start = T0) {
  let now = start;
  return {
    now: () => now,
    set: (ms: number) => {
      now = ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function tokenSet(accessToken: string, expiresIn?: number): TokenSet {
  return { accessToken, tokenType: "bearer", expiresIn, refreshToken: undefined, instanceUrl: undefined };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A lookup whose fetches are counted; `answer` decides each one. */
function countingLookup(
  answer: (n: number, background: boolean) => Promise<TokenSet>,
  overrides: Partial<TokenLookup> = {},
) {
  const calls: boolean[] = [];
  const lookup: TokenLookup = {
    key: "c-1:fp",
    connectorId: "c-1",
    defaultLifetimeSeconds: 900,
    fetch: (background) => {
      calls.push(background);
      return answer(calls.length, background);
    },
    budget: Budget.of(30_000),
    ...overrides,
  };
  return { lookup, calls };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("TokenCache TTL", () => {
  /**
   * The token obtained at T0 is served (without a new fetch) at T0 + ms - 1 and not at T0 + ms. Fresh caches
   * per probe, so a proactive refresh started by one probe cannot affect the other.
   */
  async function expectExpiresAfter(token: () => TokenSet, ms: number, defaultLifetimeSeconds = 900) {
    for (const [offset, servedFromCache] of [
      [ms - 1, true],
      [ms, false],
    ] as const) {
      const clock = manualClock();
      const cache = new TokenCache({ now: clock.now });
      const { lookup, calls } = countingLookup(async (n) => (n === 1 ? token() : tokenSet("newer")), {
        defaultLifetimeSeconds,
      });
      await cache.use(lookup);
      clock.set(T0 + offset);
      const use = await cache.use(lookup);
      expect({ offset, fetched: use.fetched }).toEqual({ offset, fetched: !servedFromCache });
      expect(use.token.accessToken).toBe(servedFromCache ? token().accessToken : "newer");
      // Served: the use fell in the refresh window and started a background fetch; not served: a foreground fetch.
      expect(calls[1]).toBe(servedFromCache);
    }
  }

  it("expires_in 3600 -> expires 60 s early (margin 60 s)", async () => {
    await expectExpiresAfter(() => tokenSet("a", 3600), 3540_000);
  });

  it("expires_in 100 -> expires 10 s early (margin 10 %)", async () => {
    await expectExpiresAfter(() => tokenSet("a", 100), 90_000);
  });

  it("marginSeconds is configurable", async () => {
    const clock = manualClock();
    const cache = new TokenCache({ now: clock.now, marginSeconds: 5 });
    const { lookup, calls } = countingLookup(async (n) => tokenSet(`t${n}`, 3600));
    await cache.use(lookup);
    clock.set(T0 + 3595_000 - 1);
    expect((await cache.use(lookup)).fetched).toBe(false);
    await settle();
    expect(calls).toEqual([false, true]);
  });

  it("no expires_in: from the access token's JWT exp", async () => {
    const jwt = fakeJwt({ sub: "x", exp: T0 / 1000 + 1000 });
    await expectExpiresAfter(() => tokenSet(jwt), 940_000);
  });

  it("expires_in wins over the JWT exp", async () => {
    const jwt = fakeJwt({ exp: T0 / 1000 + 100_000 });
    await expectExpiresAfter(() => tokenSet(jwt, 100), 90_000);
  });

  it("neither expires_in nor a JWT: the default lifetime, less the margin", async () => {
    await expectExpiresAfter(() => tokenSet("opaque"), 840_000, 900);
  });

  it("a three-part token that is not a JWT falls back to the default", async () => {
    await expectExpiresAfter(() => tokenSet("not.a.jwt"), 270_000, 300);
  });

  it("expires_in 0 is never served from the cache", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const { lookup, calls } = countingLookup(async (n) => tokenSet(`t${n}`, 0));
    await cache.use(lookup);
    const second = await cache.use(lookup);
    expect(second).toEqual({ token: tokenSet("t2", 0), fetched: true });
    expect(calls).toEqual([false, false]);
  });

  it("expiry -> a new fetch after the old one expired", async () => {
    const clock = manualClock();
    const cache = new TokenCache({ now: clock.now });
    const { lookup, calls } = countingLookup(async (n) => tokenSet(`t${n}`, 3600));
    expect((await cache.use(lookup)).token.accessToken).toBe("t1");
    clock.advance(3600_000);
    const use = await cache.use(lookup);
    expect(use).toEqual({ token: tokenSet("t2", 3600), fetched: true });
    expect(calls).toEqual([false, false]);
  });
});

describe("TokenCache proactive refresh", () => {
  it("in the last 10 % of life: the old token now, exactly one background fetch, then the new token", async () => {
    const clock = manualClock();
    const cache = new TokenCache({ now: clock.now });
    const refresh = deferred<TokenSet>();
    const { lookup, calls } = countingLookup((n) =>
      n === 1 ? Promise.resolve(tokenSet("old", 1000)) : refresh.promise,
    );
    await cache.use(lookup);
    // lifetime 1000 - 60 = 940 s; refresh from 846 s.
    clock.set(T0 + 846_000 - 1);
    expect(await cache.use(lookup)).toEqual({ token: tokenSet("old", 1000), fetched: false });
    expect(calls).toEqual([false]);

    clock.set(T0 + 846_000);
    const uses = await Promise.all(Array.from({ length: 20 }, () => cache.use(lookup)));
    for (const use of uses) expect(use).toEqual({ token: tokenSet("old", 1000), fetched: false });
    expect(calls).toEqual([false, true]);

    refresh.resolve(tokenSet("new", 1000));
    await settle();
    expect(await cache.use(lookup)).toEqual({ token: tokenSet("new", 1000), fetched: false });
    expect(calls).toEqual([false, true]);
  });

  it("a failed background refresh goes to onBackgroundError and the old token stays in service", async () => {
    const clock = manualClock();
    const cache = new TokenCache({ now: clock.now });
    const errors: unknown[] = [];
    const { lookup, calls } = countingLookup(
      async (n) => {
        if (n === 2) throw new Error("refresh failed");
        return tokenSet(`t${n}`, 1000);
      },
      { onBackgroundError: (error) => errors.push(error) },
    );
    await cache.use(lookup);
    clock.set(T0 + 900_000);
    expect((await cache.use(lookup)).token.accessToken).toBe("t1");
    await settle();
    expect(errors).toEqual([new Error("refresh failed")]);
    // The next use in the window tries again.
    expect((await cache.use(lookup)).token.accessToken).toBe("t1");
    await settle();
    expect(calls).toEqual([false, true, true]);
    expect((await cache.use(lookup)).token.accessToken).toBe("t3");
  });
});

describe("TokenCache invalidate and dropConnector", () => {
  it("invalidate drops only the matching token", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const { lookup, calls } = countingLookup(async (n) => tokenSet(`t${n}`, 3600));
    await cache.use(lookup);
    cache.invalidate(lookup.key, "some-older-token");
    cache.invalidate("c-1:other-fingerprint", "t1");
    expect(await cache.use(lookup)).toEqual({ token: tokenSet("t1", 3600), fetched: false });
    cache.invalidate(lookup.key, "t1");
    expect(await cache.use(lookup)).toEqual({ token: tokenSet("t2", 3600), fetched: true });
    expect(calls).toHaveLength(2);
  });

  it("dropConnector drops every token of that connector and no other", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const a1 = countingLookup(async (n) => tokenSet(`a1-${n}`, 3600), { key: "c-1:fp1" });
    const a2 = countingLookup(async (n) => tokenSet(`a2-${n}`, 3600), { key: "c-1:fp2" });
    const b = countingLookup(async (n) => tokenSet(`b-${n}`, 3600), { key: "c-2:fp", connectorId: "c-2" });
    for (const { lookup } of [a1, a2, b]) await cache.use(lookup);
    expect(cache.size).toBe(3);
    cache.dropConnector("c-1");
    expect(cache.size).toBe(1);
    expect((await cache.use(a1.lookup)).token.accessToken).toBe("a1-2");
    expect((await cache.use(a2.lookup)).token.accessToken).toBe("a2-2");
    expect(await cache.use(b.lookup)).toEqual({ token: tokenSet("b-1", 3600), fetched: false });
  });

  it("a fetch in flight during dropConnector reaches its waiter but is not cached", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const first = deferred<TokenSet>();
    const { lookup, calls } = countingLookup((n) =>
      n === 1 ? first.promise : Promise.resolve(tokenSet(`t${n}`, 3600)),
    );
    const waiting = cache.use(lookup);
    await settle();
    cache.dropConnector("c-1");
    first.resolve(tokenSet("from-before-the-drop", 3600));
    expect((await waiting).token.accessToken).toBe("from-before-the-drop");
    expect(cache.size).toBe(0);
    expect(await cache.use(lookup)).toEqual({ token: tokenSet("t2", 3600), fetched: true });
    expect(calls).toHaveLength(2);
  });

  it("a fetch in flight during the drop does not overwrite the token fetched after it", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const first = deferred<TokenSet>();
    const { lookup } = countingLookup((n) =>
      n === 1 ? first.promise : Promise.resolve(tokenSet("after", 3600)),
    );
    const waiting = cache.use(lookup);
    await settle();
    cache.dropConnector("c-1");
    expect((await cache.use(lookup)).token.accessToken).toBe("after");
    first.resolve(tokenSet("before", 3600));
    await waiting;
    expect((await cache.use(lookup)).token.accessToken).toBe("after");
  });
});

describe("TokenCache failures and abort", () => {
  it("a failed fetch reaches every waiter, is not cached, and the next use tries again", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const { lookup, calls } = countingLookup(async (n) => {
      if (n === 1) throw new Error("token endpoint down");
      return tokenSet("recovered", 3600);
    });
    const results = await Promise.allSettled([cache.use(lookup), cache.use(lookup), cache.use(lookup)]);
    for (const result of results) {
      expect(result).toEqual({ status: "rejected", reason: new Error("token endpoint down") });
    }
    expect(calls).toHaveLength(1);
    expect(cache.size).toBe(0);
    expect(await cache.use(lookup)).toEqual({ token: tokenSet("recovered", 3600), fetched: true });
    expect(calls).toHaveLength(2);
  });

  it("a waiter's AbortSignal stops its wait without failing the other waiters", async () => {
    const cache = new TokenCache({ now: manualClock().now });
    const pending = deferred<TokenSet>();
    const impatient = new AbortController();
    const { lookup, calls } = countingLookup(() => pending.promise);
    const first = cache.use({ ...lookup, budget: Budget.of(30_000, { signal: impatient.signal }) });
    const second = cache.use(lookup);
    const third = cache.use(lookup);
    impatient.abort(new Error("deadline of run 1"));
    await expect(first).rejects.toThrow("deadline of run 1");
    pending.resolve(tokenSet("shared", 3600));
    expect(await second).toEqual({ token: tokenSet("shared", 3600), fetched: true });
    expect(await third).toEqual({ token: tokenSet("shared", 3600), fetched: true });
    expect(calls).toEqual([false]);
    expect(await cache.use(lookup)).toEqual({ token: tokenSet("shared", 3600), fetched: false });
  });

  it("an already aborted signal on a cold cache rejects at once and leaves no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const cache = new TokenCache({ now: manualClock().now });
      const { lookup, calls } = countingLookup(async () => {
        throw new Error("aborted fetch fails");
      });
      await expect(
        cache.use({ ...lookup, budget: Budget.of(30_000, { signal: AbortSignal.abort(new Error("gone")) }) }),
      ).rejects.toThrow("gone");
      await settle();
      await settle();
      expect(unhandled).toEqual([]);
      // Nothing was fetched for a caller that had already given up.
      expect(calls).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("TokenCache: a joiner with more time than the flight's starter", () => {
  it("starts its own fetch when the starter's fetch ends at the starter's deadline", async () => {
    const cache = new TokenCache();
    const first = deferred<TokenSet>();
    const { lookup: short, calls } = countingLookup(
      async (n) => (n === 1 ? first.promise : tokenSet("own")),
      {
        budget: Budget.of(100),
      },
    );
    const long = { ...short, budget: Budget.of(30_000) };
    const shortUse = cache.use(short);
    const longUse = cache.use(long);
    first.reject(new DOMException("deadline", "TimeoutError"));
    await expect(shortUse).rejects.toThrow("deadline");
    expect((await longUse).token.accessToken).toBe("own");
    expect(calls).toHaveLength(2);
  });

  it("shares a refusal: an OAuth error is not fetched again", async () => {
    const cache = new TokenCache();
    const first = deferred<TokenSet>();
    const { lookup: short, calls } = countingLookup(async () => first.promise, {
      budget: Budget.of(100),
    });
    const long = { ...short, budget: Budget.of(30_000) };
    const uses = [cache.use(short), cache.use(long)];
    first.reject(new Error("invalid_client"));
    for (const use of uses) await expect(use).rejects.toThrow("invalid_client");
    expect(calls).toHaveLength(1);
  });
});

describe("TokenCache single flight against a real token server", () => {
  let agent: Agent;
  let server: TokenServer;
  beforeAll(() => {
    agent = new Agent();
  });
  afterAll(async () => {
    await agent.close();
  });
  afterEach(async () => {
    await server?.close();
  });

  function handleFor(cache: TokenCache) {
    return connectorHandle(
      profileFor({
        kind: "client-credentials",
        tokenUrl: server.url(),
        client: { clientId: "flows", clientSecret: "s", clientAuth: "body" },
      }),
      cache,
    );
  }

  it("1,000 concurrent authorize calls on a cold cache -> exactly 1 token request", async () => {
    server = await startTokenServer({ fallback: tokenAnswer({ access_token: "only-one" }) });
    const handle = handleFor(new TokenCache());
    const authorizations = await Promise.all(
      Array.from({ length: 1000 }, () => handle.authorize(callWithin(agent))),
    );
    expect(server.requests).toHaveLength(1);
    expect(new Set(authorizations.map((a) => a.headers.authorization))).toEqual(new Set(["Bearer only-one"]));
    expect(authorizations.every((a) => a.tokenFetched)).toBe(true);
    const later = await handle.authorize(callWithin(agent));
    expect(later.tokenFetched).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  it("proactive refresh through the handle: old token served, one background request, then the new one", async () => {
    const clock = manualClock();
    server = await startTokenServer();
    const handle = handleFor(new TokenCache({ now: clock.now }));
    const first = await handle.authorize(callWithin(agent));
    expect(first).toMatchObject({ headers: { authorization: "Bearer token-1" }, tokenFetched: true });

    clock.advance(3300_000); // lifetime 3540 s; the last 10 % starts at 3186 s
    const inWindow = await Promise.all(Array.from({ length: 10 }, () => handle.authorize(callWithin(agent))));
    for (const authorization of inWindow) {
      expect(authorization).toMatchObject({
        headers: { authorization: "Bearer token-1" },
        tokenFetched: false,
      });
    }
    await vi.waitFor(async () => {
      const now = await handle.authorize(callWithin(agent));
      expect(now.headers.authorization).toBe("Bearer token-2");
      expect(now.tokenFetched).toBe(false);
    });
    expect(server.requests).toHaveLength(2);
  });

  it("expiry through the handle: a new request once the token expired", async () => {
    const clock = manualClock();
    server = await startTokenServer();
    const handle = handleFor(new TokenCache({ now: clock.now }));
    await handle.authorize(callWithin(agent));
    clock.advance(3540_000);
    const next = await handle.authorize(callWithin(agent));
    expect(next).toMatchObject({ headers: { authorization: "Bearer token-2" }, tokenFetched: true });
    expect(server.requests).toHaveLength(2);
  });
});
