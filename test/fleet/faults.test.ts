import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorsFile, RedisFleet } from "../../src/index.js";
import { cli } from "../helpers/cli.js";
import { crmConnector } from "../helpers/connectors.js";
import { killMembers, startMember } from "../helpers/fleet-members.js";
import { httpFlow } from "../helpers/http-flows.js";
import { closeFleets, fleetEngine, fleetMember, seededFleet, TEST_TOKEN_KEY } from "../helpers/redis.js";
import { type OwnRedis, ownRedis, redisServerInstalled } from "../helpers/redis-server.js";
import { closeAllServers, type LoopbackServer, okJson, startHttpServer } from "../helpers/servers.js";
import { closedPort, startTokenServer, type TokenServer } from "../helpers/token-server.js";

/** Redis faults on a redis-server of the test's own: unreachable at start, lost mid-run, slow. */

let api: LoopbackServer;
let tokens: TokenServer;
let redis: OwnRedis | undefined;

beforeAll(async () => {
  api = await startHttpServer(okJson);
  tokens = await startTokenServer();
});
afterEach(async () => {
  killMembers();
  await closeFleets();
  await redis?.kill();
  redis = undefined;
});
afterAll(async () => {
  await tokens.close();
  await closeAllServers();
});

const document = (): ConnectorsFile => ({ connectors: [crmConnector(api.url, tokens.url())] });

const flow = httpFlow({ connector: "CRM", requestPath: "/accounts", timeoutMs: 1000 });

/** A Redis of the test's own, seeded, and an engine in a fleet member on it. */
async function engineOnOwnRedis() {
  redis = await ownRedis();
  const fleet = await seeded(redis.url);
  return { ...(await fleetEngine(fleet)), url: redis.url };
}

const seeded = (url: string): Promise<RedisFleet> => seededFleet(document(), undefined, url);

describe("Redis unreachable or the token key missing at start (CLI)", () => {
  it("run --redis: exit 2, the URL named, no stack trace", async () => {
    const port = await closedPort();
    const result = await cli(
      ["run", "fixtures/flows/crm-lookup.flow.json", "--redis", `redis://127.0.0.1:${port}`],
      {
        env: { FLOWRUN_TOKEN_KEY: TEST_TOKEN_KEY },
      },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`error: cannot reach Redis at redis://127.0.0.1:${port} (ECONNREFUSED)\n`);
  });

  it("connectors list with FLOWRUN_REDIS_URL but no FLOWRUN_TOKEN_KEY: exit 2 naming the variable", async () => {
    const result = await cli(["connectors", "list"], {
      env: { FLOWRUN_REDIS_URL: "redis://127.0.0.1:6379" },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: FLOWRUN_TOKEN_KEY is not set; Redis needs it/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

const installed = redisServerInstalled("test/fleet/faults.test.ts (Redis lost or slow)");

describe.skipIf(!installed)("Redis lost or slow while routing", () => {
  it("killing Redis mid-run loses no run: one warning, reconnect, no crash, no unhandled rejection", async () => {
    redis = await ownRedis();
    await seeded(redis.url);
    const member = await startMember({
      redis: { url: redis.url, prefix: "flowrun:" },
      flow,
      mode: "loop",
      pauseMs: 30,
    });
    const results = () => member.events.filter((e) => e.event === "result");
    await member.next(() => results().length >= 3);
    await redis.kill();
    const atKill = results().length;
    await member.next(() => results().length >= atKill + 5);
    await redis.start();
    const atRestart = results().length;
    await member.next(() => results().length >= atRestart + 5);
    member.send("stop");
    expect(await member.exited).toBe(0);
    expect(results().every((r) => r.status === "completed")).toBe(true);
    const warnings = member.events.filter((e) => e.event === "warning");
    expect(warnings.filter((w) => /lost the connection to Redis/.test(String(w.message)))).toHaveLength(1);
    expect(member.events.some((e) => e.event === "unhandled")).toBe(false);
  });

  it("a cached token is served without any Redis call (Redis is not on the hot path)", async () => {
    const { fleet, engine, close } = await engineOnOwnRedis();
    const compiled = engine.compile(flow);
    expect((await compiled.run()).status).toBe("completed"); // fetches and shares the token
    const admin = fleet.connection.commands;
    await admin.config("RESETSTAT");
    for (let run = 0; run < 50; run++) expect((await compiled.run()).status).toBe("completed");
    const stats = (await admin.info("commandstats"))
      .split("\n")
      .filter((line) => line.startsWith("cmdstat_") && !/^cmdstat_(info|config)[:|]/.test(line));
    expect(stats).toEqual([]);
    await close();
  });

  it("a slow Redis does not hold a run past its deadline: the process fetches the token itself", async () => {
    const { engine, url, close } = await engineOnOwnRedis();
    const before = tokens.requests.length;
    const blocker = await fleetMember(undefined, url);
    // Redis answers nothing for 1.5 s; the activity's whole deadline is 1 s.
    const sleeping = blocker.connection.commands.call("DEBUG", "SLEEP", "1.5").catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const result = await engine.compile(flow).run();
    expect(result.status).toBe("completed");
    expect((result.variables.out as { statusCode: number }).statusCode).toBe(200);
    expect(tokens.requests.length).toBe(before + 1);
    await sleeping;
    await close();
  });
});
