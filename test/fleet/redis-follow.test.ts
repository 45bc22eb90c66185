import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConnectorRegistry } from "../../src/index.js";
import { crmConnector } from "../helpers/connectors.js";
import { cliProcess, killMembers, startMember } from "../helpers/fleet-members.js";
import { httpFlow } from "../helpers/http-flows.js";
import {
  closeFleets,
  deleteKeys,
  fleetMember,
  REDIS_URL,
  redisProxy,
  redisReachable,
  seededFleet,
  uniquePrefix,
  waitFor,
} from "../helpers/redis.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { startTokenServer, type TokenServer, tokenAnswer } from "../helpers/token-server.js";

/** Changes made through any process reach every running engine (pub/sub, and a reload after every reconnect). */

const reachable = await redisReachable("test/fleet/redis-follow.test.ts");
const dir = mkdtempSync(path.join(tmpdir(), "flowrun-redis-follow-"));
let api: LoopbackServer;
let tokens: TokenServer;
let prefix: string;
const apiCalls: number[] = [];

beforeAll(async () => {
  api = await startHttpServer((_request, response) => {
    apiCalls.push(Date.now());
    // A little latency, so that the looping run below makes some tens of requests per second.
    setTimeout(() => {
      response.setHeader("content-type", "application/json");
      response.end('{"ok":true}');
    }, 20);
  });
  tokens = await startTokenServer({ fallback: tokenAnswer({ access_token: "t", expires_in: 3600 }) });
});
afterEach(async () => {
  killMembers();
  await closeFleets();
  await deleteKeys(REDIS_URL, prefix);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await tokens.close();
  await closeAllServers();
});

const crm = () => crmConnector(api.url, tokens.url());

async function admin(url = REDIS_URL): Promise<ConnectorRegistry> {
  const fleet = await fleetMember(prefix, url);
  return ConnectorRegistry.open(fleet.store, { role: "full-admin", allowLoopbackHttp: true, follow: false });
}

async function seed(): Promise<ConnectorRegistry> {
  prefix = uniquePrefix("follow");
  await seededFleet({ connectors: [crm()] }, prefix);
  return admin();
}

const loopFlow = {
  name: "loop",
  variables: { n: { type: "integer", default: 0 } },
  start: "call",
  activities: {
    call: {
      type: "http-request",
      connector: "CRM",
      requestPath: "/loop",
      next: { success: "count", error: "count", timeout: "count" },
    },
    count: {
      type: "set-variable",
      assignments: [{ variable: "n", value: "{{ n | plus: 1 }}" }],
      next: { default: "check" },
    },
    check: { type: "condition", expression: "n < 100000", next: { true: "call", false: "end" } },
    end: { type: "end-flow" },
  },
};

describe.skipIf(!reachable)("following Redis", () => {
  it("a deactivation from another process halts a looping `flowrun run --redis` at its next request", async () => {
    const registry = await seed();
    const flowFile = path.join(dir, "loop.flow.json");
    writeFileSync(flowFile, JSON.stringify(loopFlow));
    const before = apiCalls.length;
    const running = cliProcess(
      ["run", flowFile, "--redis", REDIS_URL, "--allow-loopback-http", "--max-steps", "1000000", "--json"],
      {
        FLOWRUN_REDIS_PREFIX: prefix,
      },
    );
    const ended = running.then((result) => {
      throw new Error(
        `the run ended before the deactivation: ${result.code} ${result.stdout} ${result.stderr}`,
      );
    });
    await Promise.race([waitFor(() => apiCalls.length >= before + 5, 20_000), ended]);
    ended.catch(() => {});
    await registry.deactivate("CRM");
    const deactivatedAt = Date.now();
    const result = await running;
    expect(result.code).toBe(3);
    const json = JSON.parse(result.stdout) as { status: string; reason: string; variables: { n: number } };
    expect(json).toMatchObject({ status: "halted", reason: "connector-inactive" });
    expect(json.variables.n).toBeLessThan(100000);
    // At most the request in flight at the deactivation, and the one after it, before the halt was seen.
    expect(apiCalls.filter((at) => at > deactivatedAt).length).toBeLessThanOrEqual(2);
  });

  it("deactivate, edit, reactivate and delete in one process reach an engine in another", async () => {
    const registry = await seed();
    const member = await startMember({
      redis: { url: REDIS_URL, prefix },
      flow: httpFlow({ connector: "CRM", requestPath: "/x" }),
      mode: "follow",
    });
    await member.next((e) => e.event === "ready");
    const changes = () => member.events.filter((e) => e.event === "change").map((e) => e.kind);
    await registry.deactivate("CRM");
    await member.next(() => changes().includes("deactivated"));
    await registry.edit("CRM", { auth: { clientId: "edited" } });
    await member.next(() => changes().includes("edited"));
    await registry.reactivate("CRM");
    await member.next(() => changes().includes("reactivated"));
    await registry.deactivate("CRM");
    await member.next(() => changes().filter((kind) => kind === "deactivated").length === 2);
    await registry.delete("CRM");
    await member.next(() => changes().includes("deleted"));
    expect(changes()).toEqual(["deactivated", "edited", "reactivated", "deactivated", "deleted"]);
  });

  it("after a lost connection an engine reloads the whole state (what was published meanwhile is not lost)", async () => {
    await seed();
    const proxy = await redisProxy(REDIS_URL);
    try {
      const member = await startMember({
        redis: { url: proxy.url, prefix },
        flow: httpFlow({ connector: "CRM", requestPath: "/x" }),
        mode: "follow",
      });
      await member.next((e) => e.event === "ready");
      proxy.cut();
      await member.next((e) => e.event === "warning");
      const registry = await admin(); // straight to Redis, not through the cut proxy
      await registry.deactivate("CRM");
      proxy.restore();
      const change = await member.next((e) => e.event === "change");
      expect(change).toMatchObject({ kind: "deactivated", name: "CRM" });
    } finally {
      await proxy.close();
    }
  });
});
