import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorRegistry, ConnectorsFile, Engine, RetryClock } from "../../src/index.js";
import { crmConnector } from "../helpers/connectors.js";
import { fakeClock } from "../helpers/fake-clock.js";
import { killMembers, startMember } from "../helpers/fleet-members.js";
import { httpFlow } from "../helpers/http-flows.js";
import {
  closeFleets,
  deleteKeys,
  dumpKeys,
  fleetEngine,
  fleetMember,
  REDIS_URL,
  redisReachable,
  seededFleet,
  uniquePrefix,
  waitFor,
} from "../helpers/redis.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import {
  type Answer,
  type Responder,
  startTokenServer,
  type TokenServer,
  tokenAnswer,
} from "../helpers/token-server.js";

/** The shared token store behind each engine's cache: invalidation, drops on admin changes, leases, proactive refresh. */

const reachable = await redisReachable("test/fleet/shared-tokens.test.ts");
let prefix: string;
let api: LoopbackServer;
let tokens: TokenServer | undefined;
const engines: Engine[] = [];

beforeAll(async () => {
  api = await startHttpServer((request, response) => {
    // "refused-*" tokens are refused as expired, as an API that revoked them would.
    const refused = request.headers.authorization?.startsWith("Bearer refused-");
    response.statusCode = refused ? 401 : 200;
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ auth: request.headers.authorization ?? null }));
  });
});
afterEach(async () => {
  killMembers();
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
  await closeFleets();
  await tokens?.close();
  tokens = undefined;
  await deleteKeys(REDIS_URL, prefix);
});
afterAll(() => closeAllServers());

const connectors = (): ConnectorsFile => ({ connectors: [crmConnector(api.url, tokens!.url())] });

/** Starts a token server answering `answers` in order, then `fallback`; seeds the store. */
async function setUp(answers: Answer[], fallback?: Answer | Responder): Promise<void> {
  prefix = uniquePrefix("shared");
  tokens = await startTokenServer({ script: answers, fallback });
  await seededFleet(connectors(), prefix);
}

const member = () => fleetMember(prefix);

/** An engine in a fleet member of its own (own connections), as in another process. */
async function engine(retryClock?: RetryClock): Promise<{
  run: (timeoutMs?: number) => Promise<{ status: number | null; auth: unknown; kind?: string }>;
  registry: ConnectorRegistry;
}> {
  const { registry, engine: created } = await fleetEngine(await member(), {
    registry: { role: "full-admin" },
    engine: retryClock ? { retryClock } : {},
  });
  engines.push(created);
  return {
    registry,
    run: async (timeoutMs = 5000) => {
      const result = await created
        .compile(httpFlow({ connector: "CRM", requestPath: "/x", timeoutMs }))
        .run();
      const out = result.variables.out as {
        statusCode: number | null;
        json: { auth?: unknown } | null;
        error?: { kind: string };
      };
      return {
        status: out.statusCode,
        auth: out.json?.auth,
        kind: out.error?.kind,
        message: (out.error as { message?: string } | undefined)?.message,
      };
    },
  };
}

describe.skipIf(!reachable)("shared tokens", () => {
  it("a token the API refused is not served again from Redis to another process", async () => {
    await setUp([tokenAnswer({ access_token: "refused-1" }), tokenAnswer({ access_token: "good-2" })]);
    const a = await engine();
    expect(await a.run()).toMatchObject({ status: 200, auth: "Bearer good-2" });
    const b = await engine();
    expect(await b.run()).toMatchObject({ status: 200, auth: "Bearer good-2" });
    expect(tokens!.requests).toHaveLength(2);
  });

  it("a deactivation drops the connector's shared tokens; after reactivation a new token is fetched", async () => {
    await setUp([], tokenAnswer({ access_token: "t" }));
    const a = await engine();
    await a.run();
    const tokenKeys = async () =>
      [...(await dumpKeys(REDIS_URL, prefix)).keys()].filter((k) => k.includes(":token:"));
    expect(await tokenKeys()).toHaveLength(1);
    const admin = await engine();
    await admin.registry.deactivate("CRM");
    expect(await tokenKeys()).toHaveLength(0);
    await admin.registry.reactivate("CRM");
    const b = await engine();
    expect(await b.run()).toMatchObject({ status: 200 });
    expect(tokens!.requests).toHaveLength(2);
  });

  it("a lease holder that dies mid-fetch blocks the fleet only until its lease expires", async () => {
    await setUp([{ hang: true }], tokenAnswer({ access_token: "after-takeover" }));
    const b = await engine();
    // The holder's activity deadline is 2 s, so its lease lasts 3 s.
    const holder = await startMember({
      redis: { url: REDIS_URL, prefix },
      flow: httpFlow({ connector: "CRM", requestPath: "/x", timeoutMs: 2000 }),
      mode: "once",
    });
    await waitFor(() => tokens!.requests.length === 1, 30_000);
    holder.kill();
    // While the lease is held, a short deadline ends waiting without a second token request.
    const [short, long] = await Promise.all([b.run(300), b.run(5000)]);
    expect(short).toMatchObject({ status: null, kind: "timeout" });
    // Started at once, this run joins the 300 ms run's wait, which ends first; it then waits on its own deadline.
    expect(long).toMatchObject({ status: 200, auth: "Bearer after-takeover" });
    expect(tokens!.requests).toHaveLength(2);
  });

  it("waiting for another process's lease polls on the engine's clock (a fake one never waits in real time)", async () => {
    await setUp([{ hang: true }], tokenAnswer({ access_token: "late" }));
    const holder = await engine();
    const holding = holder.run(3000);
    await waitFor(() => tokens!.requests.length === 1, 30_000);
    const clock = fakeClock();
    const waiter = await engine(clock);
    const started = performance.now();
    expect(await waiter.run(1000)).toMatchObject({ status: null, kind: "timeout" });
    // The polls back off 5, 10, 20, ... ms up to 100 ms on the fake clock until its time passes the deadline.
    expect(clock.waits.slice(0, 6)).toEqual([5, 10, 20, 40, 80, 100]);
    expect(clock.waits.reduce((sum, wait) => sum + wait, 0)).toBeGreaterThan(800);
    expect(performance.now() - started).toBeLessThan(900);
    expect(tokens!.requests).toHaveLength(1);
    await holding;
  });

  it("a live holder whose token request outlasts the lease renews it: still one request", async () => {
    // The token endpoint answers after 3.6 s; a lease lasts 3 s unless renewed.
    const slow = async () => {
      await new Promise((resolve) => setTimeout(resolve, 3600));
      return tokenAnswer({ access_token: "slow-but-single" });
    };
    await setUp([], slow);
    const [a, b] = [await engine(), await engine()];
    const first = a.run(8000);
    await waitFor(() => tokens!.requests.length === 1);
    const second = b.run(8000);
    expect(await Promise.all([first, second])).toMatchObject([
      { status: 200, auth: "Bearer slow-but-single" },
      { status: 200, auth: "Bearer slow-but-single" },
    ]);
    expect(tokens!.requests).toHaveLength(1);
  });

  it("a proactive refresh (last 10 % of life) is made once for the fleet", async () => {
    // expires_in 4 s: cached 3.6 s (10 % margin), refreshed from 3.24 s.
    await setUp([
      tokenAnswer({ access_token: "first", expires_in: 4 }),
      tokenAnswer({ access_token: "second", expires_in: 4 }),
    ]);
    const a = await engine();
    const b = await engine();
    await a.run();
    await b.run();
    expect(tokens!.requests).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 3300));
    const served = await Promise.all([a.run(), b.run()]);
    expect(served.map((s) => s.auth)).toEqual(["Bearer first", "Bearer first"]);
    await waitFor(() => tokens!.requests.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 400)); // past the old token's end
    expect((await Promise.all([a.run(), b.run()])).map((s) => s.auth)).toEqual([
      "Bearer second",
      "Bearer second",
    ]);
    expect(tokens!.requests).toHaveLength(2);
  });
});
