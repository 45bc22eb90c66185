import { describe, expect, it } from "vitest";
import { createEngine } from "../../src/runtime/create-engine.js";
import { httpFlow } from "../helpers/http-flows.js";

const engine = createEngine();
const problemPaths = (activity: Record<string, unknown>) =>
  engine
    .validate(httpFlow(activity))
    .filter((p) => p.severity === "error")
    .map((p) => p.path);

describe("http-request compile-time checks", () => {
  it("accepts a minimal authenticated and a minimal unauthenticated request", () => {
    expect(problemPaths({ connector: "CRM", requestPath: "/a/{{ contact.ani }}" })).toEqual([]);
    expect(
      problemPaths({ useAuthenticatedEndpoint: false, requestUrl: "https://api.example.com/x" }),
    ).toEqual([]);
  });

  it("needs exactly the fields of its mode", () => {
    expect(problemPaths({ connector: "CRM" })).toContain("$.activities.call.requestPath");
    expect(problemPaths({ requestPath: "/a" })).toContain("$.activities.call.connector");
    expect(problemPaths({ connector: "CRM", requestPath: "/a", requestUrl: "https://x.example" })).toContain(
      "$.activities.call",
    );
    expect(problemPaths({ useAuthenticatedEndpoint: false })).toContain("$.activities.call.requestUrl");
    expect(
      problemPaths({ useAuthenticatedEndpoint: false, connector: "CRM", requestUrl: "https://x.example" }),
    ).toContain("$.activities.call.connector");
  });

  it("checks fields: method, timeoutMs, retries, content type", () => {
    const base = { connector: "CRM", requestPath: "/a" };
    expect(problemPaths({ ...base, method: "TRACE" })).toContain("$.activities.call.method");
    expect(problemPaths({ ...base, timeoutMs: 60_001 })).toContain("$.activities.call.timeoutMs");
    expect(problemPaths({ ...base, retries: 4 })).toContain("$.activities.call.retries");
    expect(problemPaths({ ...base, contentType: "text/html" })).toContain("$.activities.call.contentType");
  });

  it("refuses bodies that do not fit the method or content type", () => {
    const base = { connector: "CRM", requestPath: "/a" };
    expect(problemPaths({ ...base, body: { a: 1 } })).toContain("$.activities.call.body");
    expect(
      problemPaths({
        ...base,
        method: "POST",
        contentType: "application/x-www-form-urlencoded",
        body: { a: 1 },
      }),
    ).toContain("$.activities.call.body");
    expect(problemPaths({ ...base, method: "POST", contentType: "text/plain", body: { a: "x" } })).toContain(
      "$.activities.call.body",
    );
  });

  it("reports template syntax errors at their JSON path, body leaves included", () => {
    const paths = problemPaths({
      connector: "CRM",
      requestPath: "/a/{{ x",
      method: "POST",
      queryParameters: { q: "{{ y | nosuchfilter }}" },
      body: { nested: ["ok", "{{ z"] },
    });
    expect(paths).toEqual(
      expect.arrayContaining([
        "$.activities.call.requestPath",
        "$.activities.call.queryParameters.q",
        "$.activities.call.body.nested[1]",
      ]),
    );
  });

  it("refuses reserved and malformed header names", () => {
    const base = { connector: "CRM", requestPath: "/a" };
    expect(problemPaths({ ...base, headers: { Host: "evil" } })).toContain("$.activities.call.headers.Host");
    expect(problemPaths({ ...base, headers: { "Content-Type": "x" } })).toContain(
      '$.activities.call.headers["Content-Type"]',
    );
    expect(problemPaths({ ...base, headers: { "bad name": "x" } })).toEqual(
      expect.arrayContaining([expect.stringContaining("headers")]),
    );
    expect(
      problemPaths({
        useAuthenticatedEndpoint: false,
        requestUrl: "https://x.example",
        headers: { Authorization: "k" },
      }),
    ).toEqual([]);
  });
});
