// Fault injection: misbehaving loopback servers map to their documented error kind within the activity
// deadline, and every case leaves no socket or timer behind.
import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connectorHandle } from "../../src/connectors/connector-handle.js";
import { TokenCache } from "../../src/connectors/token-cache.js";
import type { ConnectorResolver } from "../../src/core/connector-seam.js";
import { createEngine, type Engine } from "../../src/runtime/create-engine.js";
import { type HttpOutputs, httpFlow } from "../helpers/http-flows.js";
import { startTokenServer, type TokenServer } from "../helpers/token-server.js";

/** A raw TCP server: each connection's first request bytes are handed to `onRequest`, which writes what it wants. */
interface RawServer {
  readonly origin: string;
  /** Connections still open (the client has not closed them). */
  connections(): number;
  close(): Promise<void>;
}

async function startRawServer(onRequest: (socket: net.Socket) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let seen = "";
    socket.on("data", (chunk) => {
      const before = seen;
      seen += chunk.toString("latin1");
      if (!before.includes("\r\n\r\n") && seen.includes("\r\n\r\n")) onRequest(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

type ResourceCounts = Record<string, number>;
const WATCHED = ["TCPSocketWrap", "TCPServerWrap", "Timeout"];

function resources(): ResourceCounts {
  const counts: ResourceCounts = {};
  for (const name of process.getActiveResourcesInfo())
    if (WATCHED.includes(name)) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

function extra(baseline: ResourceCounts): ResourceCounts {
  const now = resources();
  const over: ResourceCounts = {};
  for (const name of WATCHED) {
    const diff = (now[name] ?? 0) - (baseline[name] ?? 0);
    if (diff > 0) over[name] = diff;
  }
  return over;
}

/** Waits (a short settle, polled) until nothing beyond the baseline is open; returns what is still open. */
async function leftovers(baseline: ResourceCounts): Promise<ResourceCounts> {
  for (let i = 0; i < 50; i++) {
    if (Object.keys(extra(baseline)).length === 0) return {};
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return extra(baseline);
}

let baseline: ResourceCounts;
const engines: Engine[] = [];
const rawServers: RawServer[] = [];
const cleanups: (() => Promise<void>)[] = [];
beforeEach(() => {
  baseline = resources();
});
afterEach(async () => {
  // The engine first: closing it must close every connection it opened, before the servers drop theirs.
  for (const engine of engines.splice(0)) await engine.close();
  for (let i = 0; i < 50 && rawServers.some((server) => server.connections() > 0); i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const stillConnected = rawServers.map((server) => server.connections());
  for (const server of rawServers.splice(0)) await server.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
  expect(stillConnected.every((count) => count === 0)).toBe(true);
  expect(await leftovers(baseline)).toEqual({});
});

function engineFor(options: { connectors?: ConnectorResolver } = {}): Engine {
  const engine = createEngine({ allowLoopbackHttp: true, ...options });
  engines.push(engine);
  return engine;
}

async function raw(onRequest: (socket: net.Socket) => void): Promise<RawServer> {
  const server = await startRawServer(onRequest);
  rawServers.push(server);
  return server;
}

async function tokenServer(...script: Parameters<TokenServer["enqueue"]>): Promise<TokenServer> {
  const server = await startTokenServer({ script });
  cleanups.push(() => server.close());
  return server;
}

/** One OAuth client-credentials connector `CRM` whose tokens come from `token` and requests go to `api`. */
function oauthConnector(tokenUrl: string, baseUrl: string): ConnectorResolver {
  const handle = connectorHandle(
    {
      id: "crm-1",
      name: "CRM",
      type: "custom",
      status: "active",
      baseUrl,
      allowedMethods: undefined,
      auth: {
        kind: "client-credentials",
        tokenUrl,
        client: { clientId: "flows", clientSecret: "fault-secret", clientAuth: "basic" },
      },
      tokenExpiredStatuses: [401],
      tokenExpiredWhen: undefined,
      defaultLifetimeSeconds: 3600,
      baseUrlFromToken: false,
    },
    new TokenCache(),
  );
  return { resolve: (name) => (name === "CRM" ? handle : undefined) };
}

async function call(
  engine: Engine,
  activity: Record<string, unknown>,
  declare: Record<string, unknown> = {},
) {
  const result = await engine.compile(httpFlow(activity, declare)).run({});
  expect(result.status).toBe("completed");
  return { result, outputs: result.variables.out as HttpOutputs, outcome: result.trace[0]!.outcome };
}

const direct = (origin: string, fields: Record<string, unknown> = {}) => ({
  useAuthenticatedEndpoint: false,
  requestUrl: `${origin}/resource`,
  timeoutMs: 400,
  ...fields,
});
const parseOne = [{ outputVariable: "value", pathExpression: "$.value" }];
const declareValue = { value: { type: "string" } };

describe("fault injection", () => {
  it("control: a healthy keep-alive answer succeeds, and closing the engine closes its pooled connection", async () => {
    // Without engine.close() this case fails in afterEach: the server still sees the pooled connection.
    const server = await raw((socket) => {
      socket.write(
        'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{"value":"v"}',
      );
    });
    const { outputs, outcome } = await call(
      engineFor(),
      direct(server.origin, { parseSettings: parseOne }),
      declareValue,
    );
    expect(outcome).toBe("success");
    expect(outputs.statusCode).toBe(200);
    expect(server.connections()).toBe(1);
  });

  it("connection reset in the middle of the body: network", async () => {
    const server = await raw((socket) => {
      socket.write(
        'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"value":"ha',
        () => socket.resetAndDestroy(),
      );
    });
    const { outputs, outcome } = await call(engineFor(), direct(server.origin));
    expect(outcome).toBe("error");
    expect(outputs.error?.kind).toBe("network");
  });

  it("headers that never finish: timeout", async () => {
    const server = await raw((socket) => {
      socket.write("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-slow: ");
    });
    const { outputs, outcome } = await call(engineFor(), direct(server.origin));
    expect(outcome).toBe("timeout");
    expect(outputs.error?.kind).toBe("timeout");
  });

  it("a body that stops halfway and hangs: timeout", async () => {
    const server = await raw((socket) => {
      socket.write(
        'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"value":"ha',
      );
    });
    const { outputs, outcome } = await call(
      engineFor(),
      direct(server.origin, { parseSettings: parseOne }),
      declareValue,
    );
    expect(outcome).toBe("timeout");
    expect(outputs.error?.kind).toBe("timeout");
  });

  it("invalid JSON with a JSON content type and parse settings: parse", async () => {
    const body = '{"value": "unterminated';
    const server = await raw((socket) => {
      socket.end(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    const { outputs } = await call(
      engineFor(),
      direct(server.origin, { parseSettings: parseOne }),
      declareValue,
    );
    expect(outputs.error?.kind).toBe("parse");
    expect(outputs.error?.message).toMatch(/not JSON/);
  });

  it.each([
    ["required", [{ outputVariable: "value", pathExpression: "$.value", required: true }]],
    ["optional", parseOne],
  ])(
    "a 200 with an empty body and %s parse settings: parse (an empty body is not JSON)",
    async (_name, settings) => {
      const server = await raw((socket) => {
        socket.end(
          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
      });
      const { outputs } = await call(
        engineFor(),
        direct(server.origin, { parseSettings: settings }),
        declareValue,
      );
      expect(outputs.error?.kind).toBe("parse");
      expect(outputs.statusCode).toBe(200);
    },
  );

  it("a response with 10,000 headers: a clean network error", async () => {
    const server = await raw((socket) => {
      const lines = Array.from({ length: 10_000 }, (_, index) => `x-h${index}: ${index}\r\n`).join("");
      socket.write(`HTTP/1.1 200 OK\r\n${lines}content-length: 2\r\n\r\n{}`, () => socket.end());
    });
    const { outputs, outcome } = await call(engineFor(), direct(server.origin, { timeoutMs: 2000 }));
    expect(outcome).toBe("error");
    expect(outputs.error?.kind).toBe("network");
    expect(outputs.error?.message).toMatch(/header/i);
  });

  it("HTML from the token endpoint: auth, naming the HTML", async () => {
    const token = await tokenServer({
      status: 200,
      body: "<!DOCTYPE html><html><body>Login portal</body></html>",
      contentType: "text/html",
    });
    const api = await raw((socket) => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"));
    const engine = engineFor({ connectors: oauthConnector(token.url(), api.origin) });
    const { outputs } = await call(engine, { connector: "CRM", requestPath: "/x", timeoutMs: 2000 });
    expect(outputs.error?.kind).toBe("auth");
    expect(outputs.error?.message).toMatch(/text\/html/);
    expect(outputs.error?.message).toMatch(/<!DOCTYPE html>/);
  });

  it("a token endpoint that hangs: timeout within the activity deadline", async () => {
    const token = await tokenServer({ hang: true });
    const api = await raw((socket) => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"));
    const engine = engineFor({ connectors: oauthConnector(token.url(), api.origin) });
    const { outputs, outcome } = await call(engine, { connector: "CRM", requestPath: "/x", timeoutMs: 400 });
    expect(outcome).toBe("timeout");
    expect(outputs.error?.kind).toBe("timeout");
    expect(outputs.error?.message).toMatch(/not authorised before the deadline/);
  });

  it("a token endpoint that resets the connection every time: auth (retried until the deadline)", async () => {
    const token = await tokenServer(
      { destroy: true },
      { destroy: true },
      { destroy: true },
      { destroy: true },
      { destroy: true },
    );
    const api = await raw((socket) => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"));
    const engine = engineFor({ connectors: oauthConnector(token.url(), api.origin) });
    const { outputs } = await call(engine, { connector: "CRM", requestPath: "/x", timeoutMs: 1500 });
    expect(["auth", "timeout"]).toContain(outputs.error?.kind);
  });
});
