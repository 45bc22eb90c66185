import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectorInput, ConnectorRegistry, Engine } from "../../src/index.js";
import {
  decodeClientBasic,
  startTokenServer,
  type TokenServer,
  tokenAnswer,
} from "../helpers/token-server.js";
import {
  apiOk,
  bearerOf,
  connectorsDoc,
  engineFor,
  eventually,
  memoryRegistry,
  oneCallFlow,
  outputsOf,
  twoCallFlow,
  useApiServer,
} from "./harness.js";

/** Admin changes while flows run: edits never serve an old token, deactivation halts (6). */

const api = useApiServer();
let tokens: TokenServer;
let registry: ConnectorRegistry;
let engine: Engine;
beforeEach(async () => {
  tokens = await startTokenServer({
    fallback: (request) => {
      const { secret } = decodeClientBasic(request.headers.authorization);
      return tokenAnswer({ access_token: `token-${tokens.requests.length}-for-${secret}` });
    },
  });
  registry = memoryRegistry(
    connectorsDoc({
      id: "c-crm",
      name: "CRM",
      type: "custom",
      resourceDomainUrl: api.url,
      auth: {
        type: "oauth2",
        clientId: "flows",
        clientSecret: { env: "SECRET_A" },
        tokenUrl: tokens.url(),
        scope: "accounts.read",
      },
    } as ConnectorInput),
  );
  engine = engineFor(registry, { secrets: { env: { SECRET_A: "secret-a", SECRET_B: "secret-b" } } });
});
afterEach(async () => {
  await engine.close();
  await tokens.close();
});

const oneCall = () => oneCallFlow({ connector: "CRM", requestPath: "/accounts" });
const admin = { role: "full-admin" } as const;

describe("edit -> the old token is never sent again", () => {
  it.each([
    ["clientSecret", { auth: { clientSecret: { env: "SECRET_B" } } }],
    ["scope", { auth: { scope: "accounts.write" } }],
    ["description only (same auth settings)", { description: "edited" }],
  ])("after an edit of %s, runs use a new token", async (_what, changes) => {
    const flow = engine.compile(oneCall());
    await flow.run();
    await flow.run();
    const tokenA = bearerOf(api.received[0]!);
    expect(api.received.map(bearerOf)).toEqual([tokenA, tokenA]);
    const seenBefore = api.received.length;

    await registry.deactivate("CRM", admin);
    await registry.edit("CRM", changes, admin);
    await registry.reactivate("CRM", admin);
    for (let run = 0; run < 3; run++) expect(outputsOf(await flow.run()).statusCode).toBe(200);

    const after = api.received.slice(seenBefore).map(bearerOf);
    expect(after).toHaveLength(3);
    expect(after).not.toContain(tokenA);
    expect(new Set(after).size).toBe(1);
    expect(tokens.requests).toHaveLength(2);
    if (_what === "clientSecret") expect(after[0]).toBe("token-2-for-secret-b");
    if (_what === "scope") expect(tokens.requests[1]?.form.scope).toBe("accounts.write");
  });

  it("a token being fetched while the connector is deactivated and edited is never cached", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    tokens.enqueue(async () => {
      await gate;
      return tokenAnswer({ access_token: "token-fetched-before-edit" });
    });
    const flow = engine.compile(oneCall());
    const inFlight = flow.run();
    await eventually(() => tokens.requests.length === 1);
    await registry.deactivate("CRM", admin);
    await registry.edit("CRM", { description: "edited while a token was being fetched" }, admin);
    await registry.reactivate("CRM", admin);
    release();
    // The run that was already past its connector check completes with the token it waited for.
    expect(outputsOf(await inFlight).statusCode).toBe(200);
    await flow.run();
    await flow.run();
    expect(api.received.map(bearerOf)).toEqual([
      "token-fetched-before-edit",
      "token-2-for-secret-a",
      "token-2-for-secret-a",
    ]);
  });
});

describe("deactivate during a run", () => {
  it("between two activities: the first (in flight) completes, the second halts and sends nothing", async () => {
    let arrived = false;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    api.handle(async (request, response, raw) => {
      if (request.url === "/first") {
        arrived = true;
        await gate;
      }
      apiOk(request, response, raw);
    });
    const flow = engine.compile(
      twoCallFlow({ connector: "CRM", requestPath: "/first" }, { connector: "CRM", requestPath: "/second" }),
    );
    const running = flow.run();
    await eventually(() => arrived);
    await registry.deactivate("CRM", admin);
    release();
    const result = await running;

    expect(result.status).toBe("halted");
    expect(result.reason).toBe("connector-inactive");
    expect(result.error?.activity).toBe("second");
    expect(result.error?.message).toContain('"CRM"');
    expect(result.error?.message).toContain('"second"');
    // The first activity's request was in flight at deactivation: it completed and its outcome was taken.
    expect(result.trace[0]?.outcome).toBe("success");
    expect(outputsOf(result, "firstOut").statusCode).toBe(200);
    // The error outcome of the second is not taken: routing stops there.
    expect(result.path).toEqual(["first", "keepFirst", "second"]);
    expect(result.actions).toEqual([]);
    expect(api.received.map((request) => request.url)).toEqual(["/first"]);
    expect(tokens.requests).toHaveLength(1);
  });

  it("a deleted connector halts the next activity with connector-not-found", async () => {
    api.handle(async (request, response, raw) => {
      if (request.url === "/first") {
        await registry.deactivate("CRM", admin);
        await registry.delete("CRM", admin);
      }
      apiOk(request, response, raw);
    });
    const result = await engine
      .compile(
        twoCallFlow(
          { connector: "CRM", requestPath: "/first" },
          { connector: "CRM", requestPath: "/second" },
        ),
      )
      .run();
    expect(result.status).toBe("halted");
    expect(result.reason).toBe("connector-not-found");
    expect(result.path).toEqual(["first", "keepFirst", "second"]);
    expect(api.received.map((request) => request.url)).toEqual(["/first"]);
  });

  it("runs started while the connector is inactive halt at once; after reactivation they run again", async () => {
    const flow = engine.compile(oneCall());
    await registry.deactivate("CRM", admin);
    const halted = await flow.run();
    expect(halted.status).toBe("halted");
    expect(halted.reason).toBe("connector-inactive");
    expect(tokens.requests).toHaveLength(0);
    expect(api.received).toHaveLength(0);
    await registry.reactivate("CRM", admin);
    expect((await flow.run()).status).toBe("completed");
    expect(api.received).toHaveLength(1);
  });
});
