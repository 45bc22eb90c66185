import { afterEach, describe, expect, it, vi } from "vitest";
import type { ConnectorInput } from "../../src/index.js";
import { startTokenServer, type TokenServer, tokenAnswer } from "../helpers/token-server.js";
import {
  bearerOf,
  connectorsDoc,
  engineFor,
  eventually,
  httpTrace,
  memoryRegistry,
  oneCallFlow,
  outputsOf,
  useApiServer,
  withEngine,
} from "./harness.js";

/** The token cache through the engine: single flight, expiry, proactive refresh. Token requests are counted at the server. */

const api = useApiServer();
let tokens: TokenServer;
afterEach(async () => {
  vi.restoreAllMocks();
  await tokens?.close();
});

const crm = (): ConnectorInput =>
  ({
    id: "c-crm",
    name: "CRM",
    type: "custom",
    resourceDomainUrl: api.url,
    auth: { type: "oauth2", clientId: "flows", clientSecret: "cl1ent-S3cret", tokenUrl: tokens.url() },
  }) as ConnectorInput;

const call = { connector: "CRM", requestPath: "/accounts", timeoutMs: 30_000 };

describe("single flight", () => {
  it("1,000 concurrent runs with a cold cache cause exactly 1 token request; all complete", async () => {
    let issued = 0;
    tokens = await startTokenServer({
      fallback: async () => {
        issued++;
        // Answer slowly, so that the runs pile up behind the one fetch.
        await new Promise((resolve) => setTimeout(resolve, 100));
        return tokenAnswer({ access_token: `shared-token-${issued}` });
      },
    });
    await withEngine(crm(), {}, async (engine) => {
      const flow = engine.compile(oneCallFlow(call));
      const results = await Promise.all(Array.from({ length: 1000 }, () => flow.run()));
      expect(results.filter((result) => result.status === "completed")).toHaveLength(1000);
      expect(results.filter((result) => outputsOf(result).statusCode === 200)).toHaveLength(1000);
      expect(tokens.requests).toHaveLength(1);
      expect(api.received).toHaveLength(1000);
      expect(new Set(api.received.map(bearerOf))).toEqual(new Set(["shared-token-1"]));
    });
  });
});

describe("expiry", () => {
  it("an expired token is not served: the next run fetches a new one", async () => {
    // expires_in 1 s minus the 10 % margin: cached for 0.9 s.
    tokens = await startTokenServer({
      fallback: () => tokenAnswer({ access_token: `short-${tokens.requests.length}`, expires_in: 1 }),
    });
    await withEngine(crm(), {}, async (engine) => {
      const flow = engine.compile(oneCallFlow(call));
      const first = await flow.run();
      const cached = await flow.run();
      // A bounded wait past the token's life (the only wait in these tests; nothing asserts on timing).
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const afterExpiry = await flow.run();
      expect(httpTrace(first).tokenFetched).toBe(true);
      expect(httpTrace(afterExpiry).tokenFetched).toBe(true);
      expect(tokens.requests).toHaveLength(2);
      const seen = api.received.map(bearerOf);
      expect(seen[0]).toBe("short-1");
      expect(seen[2]).toBe("short-2");
      // The middle run is served from the cache unless the machine was slower than 0.9 s between two runs.
      if (httpTrace(cached).tokenFetched === false) expect(seen[1]).toBe("short-1");
    });
  });

  it("a token answered with expires_in 0 is used by the run that fetched it and never again", async () => {
    tokens = await startTokenServer({
      fallback: () => tokenAnswer({ access_token: `zero-${tokens.requests.length}`, expires_in: 0 }),
    });
    await withEngine(crm(), {}, async (engine) => {
      const flow = engine.compile(oneCallFlow(call));
      await flow.run();
      await flow.run();
      await flow.run();
      expect(tokens.requests).toHaveLength(3);
      expect(api.received.map(bearerOf)).toEqual(["zero-1", "zero-2", "zero-3"]);
    });
  });
});

describe("proactive refresh", () => {
  it("a token in its last 10 % is served while a new one is fetched in the background", async () => {
    // The engine's cache reads Date.now; moving it ages the cached token without waiting.
    const realNow = Date.now.bind(Date);
    let offsetMs = 0;
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + offsetMs);
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    tokens = await startTokenServer({
      script: [
        tokenAnswer({ access_token: "old-token", expires_in: 100 }),
        async () => {
          // The background refresh waits here until the test has seen the old token served.
          await released;
          return tokenAnswer({ access_token: "new-token", expires_in: 100 });
        },
      ],
      fallback: {
        status: 500,
        json: { error: "server_error", error_description: "only two tokens expected" },
      },
    });
    const warnings: string[] = [];
    const engine = engineFor(memoryRegistry(connectorsDoc(crm())), { onWarning: (m) => warnings.push(m) });
    try {
      const flow = engine.compile(oneCallFlow(call));
      const first = await flow.run();
      expect(httpTrace(first).tokenFetched).toBe(true);
      // 100 s minus the 10 s margin = 90 s of life; refresh from 81 s. At 85 s the token is in its last 10 %.
      offsetMs = 85_000;
      const during = await flow.run();
      expect(outputsOf(during).statusCode).toBe(200);
      expect(httpTrace(during).tokenFetched).toBe(false);
      expect(api.received.map(bearerOf)).toEqual(["old-token", "old-token"]);
      await eventually(() => tokens.requests.length === 2);
      // While the refresh is in flight, the old token is still served and no second refresh starts.
      await flow.run();
      expect(api.received.map(bearerOf)[2]).toBe("old-token");
      release();
      // Once the refresh has landed, runs use the new token (bounded polling, no timing assertion).
      for (let attempt = 0; attempt < 100 && bearerOf(api.received.at(-1)!) !== "new-token"; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        await flow.run();
      }
      const seen = api.received.map(bearerOf);
      expect(seen.at(-1)).toBe("new-token");
      // Never back to the old token after the new one was used.
      expect(seen.slice(seen.indexOf("new-token")).every((token) => token === "new-token")).toBe(true);
      expect(tokens.requests).toHaveLength(2);
      expect(warnings).toEqual([]);
    } finally {
      release();
      await engine.close();
    }
  });
});
