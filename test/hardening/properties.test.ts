// Property-based hardening: bad input never crashes, inserted text never moves a request elsewhere or
// changes a JSON body's structure, and any response body leaves parse settings with a defined outcome.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { Agent, type Dispatcher, MockAgent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/errors.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import { isTokenExpired } from "../../src/connectors/request-rules.js";
import { parseConnectorsDocument } from "../../src/connectors/rules.js";
import type { ConnectorsFile } from "../../src/connectors/schema.js";
import { ValidationError } from "../../src/core/errors.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { type HttpOutputs, httpFlow } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, okJson, startHttpServer } from "../helpers/servers.js";
import { TestConnectorResolver, testConnector } from "../helpers/test-connectors.js";
import { hostileString, type Json, mutate, mutation } from "./mutate.js";

const root = path.resolve(import.meta.dirname, "../..");
const flowDir = path.join(root, "fixtures/flows");
const flowFixtures = readdirSync(flowDir)
  .filter((name) => name.endsWith(".flow.json"))
  .map((name) => ({ name, document: JSON.parse(readFileSync(path.join(flowDir, name), "utf8")) as Json }));
const connectorsFixture = JSON.parse(
  readFileSync(path.join(root, "fixtures/connectors.json"), "utf8"),
) as Json;

/** numRuns scaled by HARDENING_RUNS (e.g. 10 for a long local soak); 1 in `npm test`. */
const runs = (count: number) => Math.max(1, Math.round(count * Number(process.env.HARDENING_RUNS ?? 1)));

function expectProblems(problems: readonly { path: string; message: string }[]): void {
  expect(problems.length).toBeGreaterThan(0);
  for (const problem of problems) {
    expect(problem.path).toMatch(/^\$/);
    expect(typeof problem.message).toBe("string");
    expect(problem.message.length).toBeGreaterThan(0);
  }
}

describe("mutated flows", () => {
  // Every connector the fixture flows name, from the fixtures' own connectors file.
  const engine = createEngine({
    connectors: new ConnectorRegistry(connectorsFixture as unknown as ConnectorsFile),
  });
  afterAll(() => engine.close());

  it("the fixtures compile unmutated", () => {
    expect(flowFixtures.length).toBeGreaterThan(0);
    for (const fixture of flowFixtures) expect(() => engine.compile(fixture.document)).not.toThrow();
  });

  it("compile or throw a ValidationError with located problems, nothing else", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...flowFixtures),
        fc.array(mutation, { minLength: 1, maxLength: 5 }),
        (fixture, mutations) => {
          const document = mutate(fixture.document, mutations);
          try {
            engine.compile(document);
          } catch (error) {
            if (!(error instanceof ValidationError)) throw error;
            expectProblems(error.problems);
          }
        },
      ),
      { numRuns: runs(400) },
    );
  });

  it("survive documents that are not objects at all", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (document) => {
        try {
          engine.compile(document);
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          expectProblems(error.problems);
        }
      }),
      { numRuns: runs(100) },
    );
  });
});

describe("mutated connectors documents", () => {
  it("load or fail with a ConnectorError, nothing else", () => {
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (mutations, allowLoopbackHttp) => {
          const document = mutate(connectorsFixture, mutations);
          for (const load of [
            () => new ConnectorRegistry(document as never, { allowLoopbackHttp }),
            () => parseConnectorsDocument(document, "connectors.json", { allowLoopbackHttp }),
          ]) {
            try {
              load();
            } catch (error) {
              if (!(error instanceof ConnectorError)) throw error;
              expect(error.message.length).toBeGreaterThan(0);
              if ("problems" in error) expectProblems(error.problems as { path: string; message: string }[]);
            }
          }
        },
      ),
      { numRuns: runs(300) },
    );
  });
});

/** An Agent that records the origin and path of everything dispatched through it, before anything is sent. */
class RecordingAgent extends Agent {
  readonly dispatched: { origin: string; path: string }[] = [];
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.dispatched.push({ origin: String(options.origin), path: options.path });
    return super.dispatch(options, handler);
  }
}

describe("hostile template values in an http-request", () => {
  let api: LoopbackServer;
  let agent: RecordingAgent;
  beforeAll(async () => {
    api = await startHttpServer(okJson);
    agent = new RecordingAgent();
  });
  afterAll(async () => {
    await agent.close();
    await closeAllServers();
  });

  it("never change the origin, the base path or the JSON body's structure", async () => {
    const resolver = new TestConnectorResolver([testConnector({ name: "CRM", baseUrl: `${api.url}/base` })]);
    const engine = createEngine({ connectors: resolver, dispatcher: agent, allowLoopbackHttp: true });
    const flow = engine.compile(
      httpFlow({
        connector: "CRM",
        method: "POST",
        requestPath: "/api/{{ contact.path }}",
        queryParameters: { q: "{{ contact.query }}", fixed: "1" },
        headers: { "x-value": "{{ contact.header }}" },
        body: {
          whole: "{{ contact.body }}",
          mixed: "<{{ contact.body }}>",
          list: ["{{ contact.body }}", 2],
          nested: { deeper: { leaf: "{{ contact.body }}" } },
        },
        timeoutMs: 5000,
      }),
    );
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            path: hostileString,
            query: hostileString,
            header: hostileString,
            body: hostileString,
          }),
          async (values) => {
            const receivedBefore = api.received.length;
            const dispatchedBefore = agent.dispatched.length;
            const result = await flow.run({ contact: { ...values } });
            const outputs = result.variables.out as HttpOutputs;
            const sent = api.received.slice(receivedBefore);
            for (const dispatched of agent.dispatched.slice(dispatchedBefore)) {
              expect(dispatched.origin).toBe(api.url);
              expect(dispatched.path === "/base" || dispatched.path.startsWith("/base/")).toBe(true);
            }
            if (outputs.error) {
              // Refused before sending, or refused by undici before a byte left (an invalid header value).
              expect(outputs.error.kind).toBe("invalid-request");
              expect(sent).toHaveLength(0);
              return;
            }
            expect(outputs.statusCode).toBe(200);
            expect(sent).toHaveLength(1);
            const request = sent[0]!;
            const url = new URL(request.url, api.url);
            expect(url.pathname === "/base" || url.pathname.startsWith("/base/")).toBe(true);
            // requestPath may carry a query of its own (README); the engine's parameters come after it, intact.
            // A lone surrogate cannot be UTF-8 encoded and arrives as U+FFFD.
            const wellFormed = (text: string) => Buffer.from(text, "utf8").toString("utf8");
            expect(url.searchParams.getAll("q").at(-1)).toBe(wellFormed(values.query));
            expect(url.searchParams.getAll("fixed").at(-1)).toBe("1");
            // HTTP drops leading and trailing spaces and tabs of a header value; the server reads it as ISO-8859-1.
            expect(request.headers["x-value"]).toBe(values.header.replace(/^[ \t]+|[ \t]+$/g, ""));
            const body = JSON.parse(request.body) as Record<string, unknown>;
            expect(body).toEqual({
              whole: values.body,
              mixed: `<${values.body}>`,
              list: [values.body, 2],
              nested: { deeper: { leaf: values.body } },
            });
          },
        ),
        { numRuns: runs(150) },
      );
    } finally {
      await engine.close();
    }
  });
});

describe("random JSON response bodies through parse settings", () => {
  const types = ["string", "integer", "decimal", "boolean", "datetime", "json"] as const;
  const paths = [
    "$",
    "$.a",
    "$.a.b[0]",
    "$[0]",
    "$.accounts[0].id",
    "$..*",
    "$..a",
    "$.*",
    "$[*].a",
    "$[0,1]",
    "$[0:2]",
    "$[?(@.a)]",
    "$['a','b']",
  ];
  const deep = fc.integer({ min: 1, max: 300 }).map((depth) => {
    let value: unknown = { a: 1 };
    for (let i = 0; i < depth; i++) value = i % 2 ? [value, i] : { a: value, b: [i] };
    return value;
  });
  const wide = fc.integer({ min: 1, max: 3000 }).map((width) => ({
    a: Array.from({ length: width }, (_, index) => ({ a: index, b: `v${index}` })),
  }));
  const bodyArbitrary = fc.oneof(
    fc.jsonValue(),
    deep,
    wide,
    fc.string().map((text) => text as unknown),
  );

  it("end success or error with kind parse (or limit-exceeded past the depth limit)", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    let body = "null";
    agent
      .get("https://api.example.test")
      .intercept({ path: () => true, method: "GET" })
      .reply(() => ({
        statusCode: 200,
        data: body,
        responseOptions: { headers: { "content-type": "application/json" } },
      }))
      .persist();
    const engine = createEngine({ dispatcher: agent });
    const variables = Object.fromEntries(types.map((type) => [`v_${type}`, { type }]));
    try {
      await fc.assert(
        fc.asyncProperty(
          bodyArbitrary,
          fc.array(
            fc.record({
              type: fc.constantFrom(...types),
              path: fc.constantFrom(...paths),
              required: fc.boolean(),
              withDefault: fc.boolean(),
            }),
            { minLength: 1, maxLength: 4 },
          ),
          async (json, settings) => {
            const flow = engine.compile(
              httpFlow(
                {
                  useAuthenticatedEndpoint: false,
                  requestUrl: "https://api.example.test/data",
                  parseSettings: settings.map((setting) => ({
                    outputVariable: `v_${setting.type}`,
                    pathExpression: setting.path,
                    ...(setting.required ? { required: true } : {}),
                    ...(setting.withDefault ? { default: null } : {}),
                  })),
                },
                variables,
              ),
            );
            body = JSON.stringify(json) ?? "null";
            const result = await flow.run({});
            // A body nested deeper than the valueDepth limit (64) ends the activity with limit-exceeded, and
            // copying such outputs into `out` fails the run with the same kind.
            if (result.status === "failed") {
              expect(result.error?.kind).toBe("limit-exceeded");
              return;
            }
            expect(result.status).toBe("completed");
            const outputs = result.variables.out as HttpOutputs;
            if (result.trace[0]!.outcome === "success") expect(outputs.error).toBeUndefined();
            else expect(["parse", "limit-exceeded"]).toContain(outputs.error?.kind);
          },
        ),
        { numRuns: runs(200) },
      );
    } finally {
      await engine.close();
      await agent.close();
    }
  });
});

describe("regressions found by the properties", () => {
  it("a header value outside ISO-8859-1 is invalid-request and nothing is sent", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const engine = createEngine({ dispatcher: agent });
    try {
      const flow = engine.compile(
        httpFlow({
          useAuthenticatedEndpoint: false,
          requestUrl: "https://api.example.test/x",
          headers: { "x-name": "{{ contact.name }}" },
        }),
      );
      for (const name of ["Ā", "漢字", "a\u0001b", "\u007f"]) {
        const result = await flow.run({ contact: { name } });
        expect((result.variables.out as HttpOutputs).error?.kind).toBe("invalid-request");
      }
    } finally {
      await engine.close();
      await agent.close();
    }
  });

  it("a filter path skips null and primitive elements instead of failing the run", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    agent
      .get("https://api.example.test")
      .intercept({ path: "/x", method: "GET" })
      .reply(200, '{"items":[null,1,"x",{"a":7}]}', { headers: { "content-type": "application/json" } });
    const engine = createEngine({ dispatcher: agent });
    try {
      const flow = engine.compile(
        httpFlow(
          {
            useAuthenticatedEndpoint: false,
            requestUrl: "https://api.example.test/x",
            parseSettings: [{ outputVariable: "found", pathExpression: "$.items[?(@.a)].a" }],
          },
          { found: { type: "json" } },
        ),
      );
      const result = await flow.run({});
      expect(result.trace[0]!.outcome).toBe("success");
      expect(result.variables.found).toEqual([7]);
    } finally {
      await engine.close();
      await agent.close();
    }
  });

  it("tokenExpiredWhen with a filter survives a body whose elements are null", () => {
    const document = {
      connectors: [
        {
          id: "c-1",
          name: "Loyalty",
          type: "custom",
          status: "active",
          resourceDomainUrl: "https://loyalty.example.com",
          tokenExpiredWhen: "$.errors[?(@.code === 'TOKEN_EXPIRED')]",
          auth: { type: "basic", username: "u", password: "p" },
        },
      ],
    };
    const registry = new ConnectorRegistry(document as never);
    const connector = registry.resolve("Loyalty")!;
    expect(isTokenExpired(connector, { status: 200, json: { errors: [null, 3] } })).toBe(false);
    expect(
      isTokenExpired(connector, { status: 200, json: { errors: [null, { code: "TOKEN_EXPIRED" }] } }),
    ).toBe(true);
  });
});
