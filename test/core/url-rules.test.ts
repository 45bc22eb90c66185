import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/core/errors.js";
import { checkRequestPath, isLoopbackHost, joinToBase, urlRuleBreach } from "../../src/core/url-rules.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { httpFlow, runHttp } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { TestConnectorResolver, testConnector } from "../helpers/test-connectors.js";

let api: LoopbackServer;
let evil: LoopbackServer;
let resolver: TestConnectorResolver;

beforeAll(async () => {
  api = await startHttpServer();
  evil = await startHttpServer();
  resolver = new TestConnectorResolver([testConnector({ name: "CRM", baseUrl: `${api.url}/api/v1` })]);
});
afterAll(closeAllServers);
beforeEach(() => {
  api.received.length = 0;
  evil.received.length = 0;
});

describe("origin guard: hostile requestPath values", () => {
  const hostile = (): string[] => [
    `${evil.url}/steal`,
    `http://127.0.0.1:${evil.port}`,
    `//127.0.0.1:${evil.port}/steal`,
    "//evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "@evil.example",
    `@127.0.0.1:${evil.port}`,
    "/x@127.0.0.1",
    "%2F%2Fevil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%40evil.example",
    "/%252F%252Fevil.example",
    "../../x",
    "/accounts/../../../x",
    "/%2e%2e/%2e%2e/x",
    "/.%2e/x",
    "/accounts\r\nHost: evil.example",
    "/accounts%0d%0aHost:%20evil.example",
    "/accounts\u0000",
    "/accounts?@evil.example",
    "/accounts#fragment",
    "javascript:alert(1)",
    "https:evil.example",
    "/%zz",
  ];

  it("has at least 12 cases", () => {
    expect(hostile().length).toBeGreaterThanOrEqual(12);
  });

  it("refuses each with invalid-request and sends nothing anywhere", async () => {
    for (const path of hostile()) {
      const run = await runHttp(
        { connectors: resolver, allowLoopbackHttp: true },
        { connector: "CRM", requestPath: "{{ path }}" },
        { variables: { path } },
      );
      expect(run.outputs.error?.kind, JSON.stringify(path)).toBe("invalid-request");
      expect(run.entry.outcome).toBe("error");
    }
    expect(api.received).toEqual([]);
    expect(evil.received).toEqual([]);
  });

  it("rejects a constant hostile requestPath at compile time", () => {
    const engine = createEngine({ connectors: resolver, allowLoopbackHttp: true });
    expect(() => engine.compile(httpFlow({ connector: "CRM", requestPath: "//evil.example/x" }))).toThrow(
      ValidationError,
    );
    const problems = engine.validate(httpFlow({ connector: "CRM", requestPath: "/../../x" }));
    expect(problems.map((p) => p.path)).toContain("$.activities.call.requestPath");
  });
});

describe("origin guard: what stays allowed", () => {
  it("joins paths below the base path, with or without a leading slash", () => {
    const base = new URL("https://crm.example.com/api/v1/");
    expect(joinToBase(base, "/accounts/17").href).toBe("https://crm.example.com/api/v1/accounts/17");
    expect(joinToBase(base, "accounts").href).toBe("https://crm.example.com/api/v1/accounts");
    expect(joinToBase(base, "/a/../b?x=1").href).toBe("https://crm.example.com/api/v1/b?x=1");
    expect(joinToBase(base, "/files/a%2Fb").href).toBe("https://crm.example.com/api/v1/files/a%2Fb");
    expect(joinToBase(new URL("https://crm.example.com"), "/x").href).toBe("https://crm.example.com/x");
  });

  it("allows an encoded single slash and a plain colon inside a path", () => {
    expect(() => checkRequestPath("/v1/items:search")).not.toThrow();
    expect(() => checkRequestPath("/v1/a%2Fb")).not.toThrow();
  });

  it("sends a path that climbs within the base path", async () => {
    const run = await runHttp(
      { connectors: resolver, allowLoopbackHttp: true },
      { connector: "CRM", requestPath: "{{ path }}" },
      { variables: { path: "/a/../accounts" } },
    );
    expect(run.entry.outcome).toBe("success");
    expect(api.received[0]!.url).toBe("/api/v1/accounts");
  });
});

describe("the https rule (urlRuleBreach), shared by connectors and requests", () => {
  it.each([
    ["https://api.example.com/v1", false, undefined],
    ["http://127.0.0.1:8080/x", true, undefined],
    ["http://127.9.8.7/x", true, undefined],
    ["http://localhost/x", true, undefined],
    ["http://[::1]:9/x", true, undefined],
    ["http://127.0.0.1/x", false, "loopback-http-not-allowed"],
    ["http://api.example.com/x", true, "http-not-loopback"],
    ["http://128.0.0.1/x", true, "http-not-loopback"],
    ["ftp://api.example.com/x", true, "not-http"],
    ["https://user:pw@api.example.com/x", true, "credentials"],
  ] as const)("%s (allowLoopbackHttp %s) -> %s", (url, allow, breach) => {
    expect(urlRuleBreach(new URL(url), allow)).toBe(breach);
  });

  it("isLoopbackHost accepts URL host names and bare host names alike", () => {
    for (const host of ["localhost", "LOCALHOST", "::1", "[::1]", "127.0.0.1", "127.255.0.9"])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ["example.com", "128.0.0.1", "::2", "127.0.0", "localhost.example.com"])
      expect(isLoopbackHost(host), host).toBe(false);
  });
});
