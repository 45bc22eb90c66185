import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RefusalBackoff, splitGeneration, withGeneration } from "../../src/connectors/refresh-chain.js";
import { type SharedTokenStore, TokenCache } from "../../src/connectors/token-cache.js";
import { Budget } from "../../src/core/budget.js";
import { AuthError } from "../../src/index.js";
import { connectorsDoc, memoryRegistry } from "../auth-e2e/harness.js";
import { webexConnector, writeConnectorsFile } from "../helpers/connectors.js";

const webex = webexConnector("https://idbroker.example.com/v1/access_token", "https://api.example.com");

describe("refresh token generations", () => {
  it("the memory store never replaces a newer generation with an older one", async () => {
    const registry = memoryRegistry(connectorsDoc(webex));
    expect(await registry.rotateRefreshToken("c-wxcc", "rt-5", 5)).toBe(true);
    // A process that slept through rotations writes back an older generation: refused, the newer one stays.
    expect(await registry.rotateRefreshToken("c-wxcc", "rt-3", 3)).toBe(true);
    expect(registry.toDocument().connectors[0]).toMatchObject({
      refreshToken: "rt-5",
      refreshTokenGeneration: 5,
    });
    expect(await registry.rotateRefreshToken("c-wxcc", "rt-6", 6)).toBe(true);
    expect(registry.toDocument().connectors[0]).toMatchObject({
      refreshToken: "rt-6",
      refreshTokenGeneration: 6,
    });
  });

  it("the file store compares generations with what is on disk, written by another process", async () => {
    const { file, open, remove } = writeConnectorsFile(connectorsDoc(webex));
    // Neither follows the file: what `second` holds in memory stays generation 0 whatever `first` writes.
    const [first, second] = [await open({ follow: false }), await open({ follow: false })];
    try {
      expect(await first.rotateRefreshToken("c-wxcc", "rt-4", 4)).toBe(true);
      expect(JSON.parse(readFileSync(file, "utf8")).connectors[0]).toMatchObject({
        refreshToken: "rt-4",
        refreshTokenGeneration: 4,
      });
      // `second` still has generation 0 in memory; the store re-reads the file under its lock and refuses.
      expect(await second.rotateRefreshToken("c-wxcc", "rt-2", 2)).toBe(true);
      const onDisk = JSON.parse(readFileSync(file, "utf8")).connectors[0];
      expect(onDisk).toMatchObject({ refreshToken: "rt-4", refreshTokenGeneration: 4 });
    } finally {
      await first.close();
      await second.close();
      remove();
    }
  });

  it("Redis values carry their generation; a value without one is generation 0", () => {
    expect(splitGeneration(withGeneration(12, "sealed:abc"))).toEqual({
      generation: 12,
      value: "sealed:abc",
    });
    expect(splitGeneration("v1.sealed")).toEqual({ generation: 0, value: "v1.sealed" });
  });
});

describe("refusal backoff", () => {
  it("10 s after the first refusal (plus jitter), doubling to 60 s; a success clears it", () => {
    let now = 0;
    const backoff = new RefusalBackoff({ now: () => now, random: () => 0.5 });
    backoff.check("c", 'connector "C"');
    backoff.refused("c", "invalid_grant");
    expect(() => backoff.check("c", 'connector "C"')).toThrowError(AuthError);
    expect(() => backoff.check("c", 'connector "C"')).toThrowError(
      expect.objectContaining({
        code: "refresh-backoff",
        message: expect.stringContaining("next try in 11 s"),
      }),
    );
    now = 11_001;
    backoff.check("c", 'connector "C"');
    for (let refusal = 0; refusal < 5; refusal++) backoff.refused("c", "invalid_grant");
    now += 65_000;
    expect(() => backoff.check("c", 'connector "C"')).toThrowError(/6 times in a row/);
    now += 1_001;
    backoff.check("c", 'connector "C"');
    // A success clears it: refused again, the check throws; once cleared, the same check passes at the same moment.
    backoff.refused("c", "invalid_grant");
    expect(() => backoff.check("c", 'connector "C"')).toThrowError(/refresh token was not sent/);
    backoff.clear("c");
    expect(() => backoff.check("c", 'connector "C"')).not.toThrow();
  });

  it("jitter adds up to 20 % to the wait", () => {
    let now = 0;
    const low = new RefusalBackoff({ now: () => now, random: () => 0 });
    low.refused("c", "invalid_grant");
    now = 10_001;
    low.check("c", "x");
    now = 0;
    const high = new RefusalBackoff({ now: () => now, random: () => 0.999 });
    high.refused("c", "invalid_grant");
    now = 11_900;
    expect(() => high.check("c", "x")).toThrowError(/refresh token was not sent/);
  });
});

describe("refusal backoff in the token cache", () => {
  const refused = () =>
    new AuthError("invalid_grant", { code: "invalid-grant", oauthError: "invalid_grant" });
  function lookup(fetch: () => Promise<never>) {
    return {
      key: "c-wxcc:settings",
      connectorId: "c-wxcc",
      defaultLifetimeSeconds: 3600,
      budget: Budget.of(5000),
      configuredRefreshToken: "rt-1",
      held: () => ({ refreshToken: "rt-1", generation: 0 }),
      detached: true,
      owner: 'connector "Webex CC"',
      fetch,
    };
  }

  it("still reads a token another process stored in the shared store; only sending the refresh token waits", async () => {
    let reads = 0;
    const otherProcessToken = { accessToken: "stored-by-another", tokenType: "Bearer" };
    const shared: SharedTokenStore = {
      async obtain(request) {
        reads++;
        if (reads === 1) return (await request.fetch(undefined)).entry;
        return { token: otherProcessToken, refreshAt: Date.now() + 60_000, expiresAt: Date.now() + 120_000 };
      },
    } as SharedTokenStore;
    const cache = new TokenCache({ shared });
    let sent = 0;
    const send = async (): Promise<never> => {
      sent++;
      throw refused();
    };
    await expect(cache.use(lookup(send))).rejects.toMatchObject({ code: "invalid-grant" });
    const second = await cache.use(lookup(send));
    expect(second.token.accessToken).toBe("stored-by-another");
    expect(sent).toBe(1);
  });

  it("a refresh token rotated meanwhile (by another process) is tried at once, not after the backoff", async () => {
    const cache = new TokenCache();
    let sent = 0;
    const send = async (): Promise<never> => {
      sent++;
      throw refused();
    };
    await expect(cache.use(lookup(send))).rejects.toMatchObject({ code: "invalid-grant" });
    await expect(cache.use(lookup(send))).rejects.toMatchObject({ code: "refresh-backoff" });
    expect(sent).toBe(1);
    cache.refreshTokenRotated("c-wxcc");
    await expect(cache.use(lookup(send))).rejects.toMatchObject({ code: "invalid-grant" });
    expect(sent).toBe(2);
  });
});
