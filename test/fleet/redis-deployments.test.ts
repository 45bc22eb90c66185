// The Redis deployments a fleet supports (docs/fleet.md, "Deployments"), each started by the test: a 3-node Redis
// Cluster, a Sentinel group (and a failover while runs are in flight), TLS with a CA, ioredis options, a host's
// client. In each, two fleet members share one token: the token server sees one request.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ConnectorRegistry,
  connectRedisFleet,
  type Engine,
  type RedisConnectionOptions,
  type RedisFleet,
} from "../../src/index.js";
import { makeTestCertificates } from "../helpers/certificates.js";
import { cli } from "../helpers/cli.js";
import { crmConnector } from "../helpers/connectors.js";
import { httpFlow } from "../helpers/http-flows.js";
import { fleetEngine, TEST_TOKEN_KEY, uniquePrefix } from "../helpers/redis.js";
import { startCluster, startSentinelGroup, startTlsRedis } from "../helpers/redis-deployments.js";
import { redisServerInstalled, startPlainRedis, stopRedisServers } from "../helpers/redis-server.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { startTokenServer, type TokenServer, tokenAnswer } from "../helpers/token-server.js";

const installed = redisServerInstalled("test/fleet/redis-deployments.test.ts");
let api: LoopbackServer;
let tokens: TokenServer;
const fleets: RedisFleet[] = [];
const engines: Engine[] = [];

beforeAll(async () => {
  api = await startHttpServer();
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
  await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
  await tokens?.close();
});
afterAll(async () => {
  await closeAllServers();
  await stopRedisServers();
});

async function member(target: RedisConnectionOptions, prefix: string): Promise<RedisFleet> {
  const fleet = await connectRedisFleet({
    ...target,
    keyPrefix: prefix,
    tokenKey: TEST_TOKEN_KEY,
    allowLoopbackHttp: true,
  });
  fleets.push(fleet);
  return fleet;
}

/** An engine on a fleet member of its own; `run` runs one request through the shared connector "CRM". */
async function routingMember(target: RedisConnectionOptions, prefix: string) {
  const { engine } = await fleetEngine(await member(target, prefix));
  engines.push(engine);
  const flow = engine.compile(httpFlow({ connector: "CRM", requestPath: "/x", timeoutMs: 5000 }));
  return {
    async run(): Promise<number | null> {
      const result = await flow.run();
      return (result.variables.out as { statusCode: number | null }).statusCode;
    },
  };
}

/** Seeds the connectors, then runs five concurrent requests in each of two members. */
async function sharedTokenScenario(target: RedisConnectionOptions) {
  const prefix = uniquePrefix("deploy");
  tokens = await startTokenServer({
    fallback: tokenAnswer({ access_token: "fleet-token", expires_in: 3600 }),
  });
  const admin = await member(target, prefix);
  await admin.store.importDocument({ connectors: [crmConnector(api.url, tokens.url())] });
  const members = [await routingMember(target, prefix), await routingMember(target, prefix)];
  const statuses = await Promise.all(members.flatMap((m) => Array.from({ length: 5 }, () => m.run())));
  return { statuses, tokenRequests: tokens.requests.length, members, prefix };
}

describe.skipIf(!installed)("Redis deployments", () => {
  it("a Redis Cluster of three masters: one token for the fleet (a script's keys share one slot)", async () => {
    const ports = await startCluster();
    const target = { cluster: { nodes: ports.map((port) => ({ host: "127.0.0.1", port })) } };
    const outcome = await sharedTokenScenario(target);
    expect(outcome.statuses).toEqual(Array(10).fill(200));
    expect(outcome.tokenRequests).toBe(1);
    // Deactivating saves the document and drops the connector's shared tokens in one script: on a Cluster its
    // keys must share the document's slot, or the script is refused and the admin cannot halt routing.
    const probe = new Redis.Cluster(ports.map((port) => ({ host: "127.0.0.1", port })));
    probe.on("error", () => {});
    const tokensOf = `{${outcome.prefix}}tokens-of:crm-1`;
    const before = await probe.exists(tokensOf);
    const admin = await ConnectorRegistry.open((await member(target, outcome.prefix)).store, {
      role: "full-admin",
    });
    await admin.deactivate("CRM");
    const after = await probe.exists(tokensOf);
    probe.disconnect();
    expect([before, after]).toEqual([1, 0]);
  }, 90_000);

  it("an existing ioredis Cluster client of the host, its node password kept", async () => {
    const ports = await startCluster({ password: "cluster-pass" });
    const client = new Redis.Cluster(
      ports.map((port) => ({ host: "127.0.0.1", port })),
      { redisOptions: { password: "cluster-pass" } },
    );
    client.on("error", () => {});
    const outcome = await sharedTokenScenario({ client });
    expect(outcome.statuses).toEqual(Array(10).fill(200));
    expect(outcome.tokenRequests).toBe(1);
    // flowrun used connections of its own: the host's client is still its to use and close.
    expect(await client.ping()).toBe("PONG");
    client.disconnect();
  }, 90_000);

  it("an existing ioredis client, and ioredis options without a URL", async () => {
    const port = await startPlainRedis();
    const client = new Redis({ host: "127.0.0.1", port });
    const byClient = await sharedTokenScenario({ client });
    expect(byClient).toMatchObject({ statuses: Array(10).fill(200), tokenRequests: 1 });
    await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
    expect(await client.ping()).toBe("PONG");
    client.disconnect();
    await tokens.close();
    const byOptions = await sharedTokenScenario({ redis: { host: "127.0.0.1", port } });
    expect(byOptions).toMatchObject({ statuses: Array(10).fill(200), tokenRequests: 1 });
  }, 60_000);

  it("rediss:// with the CA from a file; without the CA the connection is refused with a clear error", async () => {
    const certificates = makeTestCertificates();
    const port = await startTlsRedis(certificates);
    const url = `rediss://127.0.0.1:${port}`;
    await expect(
      connectRedisFleet({ url, tokenKey: TEST_TOKEN_KEY, connectTimeoutMs: 2000 }),
    ).rejects.toThrow(`cannot reach Redis at ${url}`);
    const outcome = await sharedTokenScenario({ url, redis: { tls: { ca: certificates.ca } } });
    expect(outcome).toMatchObject({ statuses: Array(10).fill(200), tokenRequests: 1 });
  }, 60_000);

  it("Redis Sentinel: a failover while runs are in flight loses no run; the token stays single-flight", async () => {
    const group = await startSentinelGroup();
    const target = {
      redis: { sentinels: [{ host: "127.0.0.1", port: group.sentinelPort }], name: group.name },
    };
    const outcome = await sharedTokenScenario(target);
    expect(outcome).toMatchObject({ statuses: Array(10).fill(200), tokenRequests: 1 });

    // Replication is asynchronous (docs/fleet.md): the test makes sure the replica has the fleet's writes first.
    const primary = new Redis({ host: "127.0.0.1", port: group.masterPort });
    expect(await primary.call("WAIT", "1", "5000")).toBe(1);
    primary.disconnect();
    let failingOver = true;
    const statuses: (number | null)[] = [];
    const routing = outcome.members.map(async (m) => {
      while (failingOver) {
        statuses.push(await m.run());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    await group.failover();
    const deadline = Date.now() + 30_000;
    // Done when the Sentinel names the replica and has turned the old primary into its replica.
    while (
      (await group.currentMasterPort()) !== group.replicaPort ||
      !(await group.isReplica(group.masterPort))
    ) {
      if (Date.now() > deadline) throw new Error("the Sentinel did not fail over");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // A new member reads the fleet's connectors from the new primary.
    const after = await routingMember(target, outcome.prefix);
    expect(await after.run()).toBe(200);
    failingOver = false;
    await Promise.all(routing);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((status) => status === 200)).toBe(true);
    // Every process already held the token, or read it from the new master: no further token request.
    expect(tokens.requests).toHaveLength(1);
  }, 90_000);
});

describe.skipIf(!installed)("the CLI on a TLS Redis", () => {
  it("reads the CA from FLOWRUN_REDIS_CA_FILE; an unreadable file is a usage error naming the variable", async () => {
    const certificates = makeTestCertificates();
    const port = await startTlsRedis(certificates);
    const dir = mkdtempSync(path.join(tmpdir(), "flowrun-redis-ca-"));
    writeFileSync(path.join(dir, "redis-ca.pem"), certificates.ca);
    const env = { FLOWRUN_TOKEN_KEY: TEST_TOKEN_KEY, FLOWRUN_REDIS_PREFIX: uniquePrefix("tls-cli") };
    const args = ["connectors", "list", "--redis", `rediss://127.0.0.1:${port}`];
    const listed = await cli(args, { cwd: dir, env: { ...env, FLOWRUN_REDIS_CA_FILE: "redis-ca.pem" } });
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    const missing = await cli(args, { cwd: dir, env: { ...env, FLOWRUN_REDIS_CA_FILE: "nope.pem" } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("FLOWRUN_REDIS_CA_FILE: cannot read nope.pem (ENOENT)");
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
