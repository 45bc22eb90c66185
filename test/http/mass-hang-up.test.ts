import { getEventListeners } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AuthSettings } from "../../src/connectors/auth/strategies.js";
import { connectorHandle } from "../../src/connectors/connector-handle.js";
import { TokenCache } from "../../src/connectors/token-cache.js";
import type { ConnectorHandle } from "../../src/core/connector-seam.js";
import type { Engine } from "../../src/engine/flow-engine.js";
import type { RunResult } from "../../src/engine/result.js";
import { createEngine } from "../../src/runtime/create-engine.js";

// When a trunk fails, thousands of calls end at once. Aborting their runs must not make undici open a
// connection per queued request (nodejs/undici#386), nor pile listeners onto the host's signal.

const RUNS = 5000;
const CONNECTIONS = 64;
/** Long enough that every run is still waiting when the host hangs up; nothing waits for it to pass. */
const ANSWER_AFTER_MS = 1000;

/** A loopback API and token endpoint that answer after ANSWER_AFTER_MS and count TCP connections. */
class SlowServer {
  connections = 0;
  apiRequests = 0;
  tokenRequests = 0;
  readonly #server = http.createServer((request, response) => {
    const isToken = request.url?.startsWith("/oauth/token") === true;
    if (isToken) this.tokenRequests++;
    else this.apiRequests++;
    request.resume();
    const timer = setTimeout(() => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        isToken
          ? JSON.stringify({ access_token: "t-1", token_type: "Bearer", expires_in: 3600 })
          : '{"ok":true}',
      );
    }, ANSWER_AFTER_MS);
    response.on("close", () => clearTimeout(timer));
  });
  constructor() {
    this.#server.on("connection", () => {
      this.connections++;
    });
    this.#server.keepAliveTimeout = 60_000;
  }
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
  }
  get origin(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }
  reset(): void {
    this.connections = 0;
    this.apiRequests = 0;
    this.tokenRequests = 0;
  }
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function connector(origin: string, auth: AuthSettings): ConnectorHandle {
  return connectorHandle(
    {
      id: "crm-1",
      name: "CRM",
      type: "custom",
      status: "active",
      baseUrl: origin,
      allowedMethods: undefined,
      auth,
      tokenExpiredStatuses: [401],
      tokenExpiredWhen: undefined,
      defaultLifetimeSeconds: 3600,
      baseUrlFromToken: false,
    },
    new TokenCache(),
  );
}

function lookupFlow(retries: number) {
  return {
    name: "hang-up",
    start: "lookup",
    activities: {
      lookup: {
        type: "http-request",
        connector: "CRM",
        requestPath: "/api/accounts",
        retries,
        timeoutMs: 30_000,
        next: { success: "end", error: "end", timeout: "end" },
      },
      end: { type: "end-flow" },
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

const server = new SlowServer();
const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
let engine: Engine | undefined;

beforeAll(() => server.start());
afterAll(() => server.stop());
beforeEach(() => {
  server.reset();
  warnings.length = 0;
  process.on("warning", onWarning);
});
afterEach(async () => {
  process.off("warning", onWarning);
  await engine?.close();
  engine = undefined;
});

function startEngine(auth: AuthSettings): Engine {
  const handle = connector(server.origin, auth);
  engine = createEngine({
    connectors: { resolve: (name) => (name === "CRM" ? handle : undefined) },
    allowLoopbackHttp: true,
    connectionsPerOrigin: CONNECTIONS,
  });
  return engine;
}

const basic: AuthSettings = { kind: "basic", username: "flows", password: "s3cret-Pa55word" };

function statuses(results: RunResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const result of results) counts[result.status] = (counts[result.status] ?? 0) + 1;
  return counts;
}

/** Starts RUNS runs, waits until every connection carries one, aborts them all; returns what happened. */
async function hangUpOnAll(
  engine: Engine,
  options: { retries: number; sharedSignal: boolean; queuedWhen: () => boolean },
) {
  const flow = engine.compile(lookupFlow(options.retries));
  const shutdown = new AbortController();
  const hosts = Array.from({ length: RUNS }, () => (options.sharedSignal ? shutdown : new AbortController()));
  const runs = hosts.map((host) => flow.run({ signal: host.signal }));
  await until(options.queuedWhen);
  const connectionsBefore = server.connections;
  const requestsBefore = server.apiRequests + server.tokenRequests;
  if (options.sharedSignal) shutdown.abort();
  else for (const host of hosts) host.abort();
  const results = await Promise.all(runs);
  // The storm came after the runs had settled: give undici the time it took then (answers are due by now).
  await new Promise((resolve) => setTimeout(resolve, ANSWER_AFTER_MS + 200));
  const leftListeners = hosts.reduce((sum, host) => sum + getEventListeners(host.signal, "abort").length, 0);
  return {
    results,
    newConnections: server.connections - connectionsBefore,
    requestsAfter: server.apiRequests + server.tokenRequests - requestsBefore,
    leftListeners,
  };
}

/** The engine still works after the hang-up, and a run on a never-aborted shared signal leaves no listener. */
async function expectUsable(engine: Engine): Promise<void> {
  const flow = engine.compile(lookupFlow(0));
  const host = new AbortController();
  const results = await Promise.all([1, 2, 3].map(() => flow.run({ signal: host.signal })));
  expect(results.map((result) => result.trace[0]?.outcome)).toEqual(["success", "success", "success"]);
  expect(getEventListeners(host.signal, "abort")).toHaveLength(0);
}

describe("a mass hang-up", () => {
  it.each([
    { how: "sharing the host's signal, with retries", sharedSignal: true, retries: 3 },
    { how: "with a signal each", sharedSignal: false, retries: 0 },
  ])(`${RUNS} runs $how: no connection storm, no warning`, async ({ sharedSignal, retries }) => {
    const engine = startEngine(basic);
    const outcome = await hangUpOnAll(engine, {
      retries,
      sharedSignal,
      queuedWhen: () => server.apiRequests >= CONNECTIONS,
    });
    expect(warnings).toEqual([]);
    expect(statuses(outcome.results)).toEqual({ aborted: RUNS });
    expect(outcome.newConnections).toBeLessThanOrEqual(5);
    expect(outcome.requestsAfter).toBe(0);
    expect(outcome.leftListeners).toBe(0);
    await expectUsable(engine);
    expect(warnings).toEqual([]);
  });

  it(`${RUNS} runs waiting for one token: one token request, no API request, no warning`, async () => {
    const engine = startEngine({
      kind: "client-credentials",
      tokenUrl: `${server.origin}/oauth/token`,
      client: { clientId: "flows", clientSecret: "client-s3cret", clientAuth: "basic" },
    });
    const outcome = await hangUpOnAll(engine, {
      retries: 2,
      sharedSignal: true,
      queuedWhen: () => server.tokenRequests >= 1,
    });
    expect(warnings).toEqual([]);
    expect(statuses(outcome.results)).toEqual({ aborted: RUNS });
    expect(outcome.newConnections).toBeLessThanOrEqual(5);
    expect(outcome.requestsAfter).toBe(0);
    expect(server.tokenRequests).toBe(1);
    expect(server.apiRequests).toBe(0);
    expect(outcome.leftListeners).toBe(0);
    await expectUsable(engine);
    expect(warnings).toEqual([]);
  });
});
