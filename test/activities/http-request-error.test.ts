// The error a failed http-request activity is described by: stable code, status, redacted URL, and a body excerpt
// that never shows a secret, even one the excerpt's cut would split.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BODY_EXCERPT_CHARS,
  bodyExcerpt,
  HttpRequestError,
} from "../../src/activities/http-request/activity-error.js";
import { paint } from "../../src/cli/paint.js";
import { formatTrace } from "../../src/cli/trace-format.js";
import { SecretScrubber } from "../../src/core/scrubber.js";
import { HttpRequestError as Exported } from "../../src/index.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { httpFlow, runHttp } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { basicHeader, TestConnectorResolver, testConnector } from "../helpers/test-connectors.js";

describe("HttpRequestError", () => {
  it("is exported and keeps code, status, URL and excerpt", () => {
    const error = new HttpRequestError("http-status", "GET https://api.example.com/x answered 503", {
      status: 503,
      url: "https://api.example.com/x?api_key=%5BREDACTED%5D",
      bodyExcerpt: '{"error":"busy"}',
    });
    expect(Exported).toBe(HttpRequestError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: "HttpRequestError",
      code: "http-status",
      status: 503,
      url: "https://api.example.com/x?api_key=%5BREDACTED%5D",
      bodyExcerpt: '{"error":"busy"}',
    });
  });
});

describe("bodyExcerpt", () => {
  const scrubber = new SecretScrubber();
  const secret = "s3cr3t-".repeat(20);
  scrubber.add(secret);
  const scrub = (text: string) => scrubber.scrubText(text);

  it("is undefined for an empty body and the body itself when short", () => {
    expect(bodyExcerpt("", scrub)).toBeUndefined();
    expect(bodyExcerpt('{"a":1}', scrub)).toBe('{"a":1}');
  });

  it("scrubs before it shortens: a secret across the cut leaves no part of itself", () => {
    const body = `${"x".repeat(BODY_EXCERPT_CHARS - 50)}${secret}${"y".repeat(1000)}`;
    const excerpt = bodyExcerpt(body, scrub)!;
    expect(excerpt).not.toContain("s3cr3t");
    expect(excerpt).toContain("[REDACTED]");
    expect(excerpt.length).toBeLessThanOrEqual(BODY_EXCERPT_CHARS + 3);
  });
});

describe("a refused response in the trace", () => {
  const password = "pw-Echoed-By-The-Api-42";
  let api: LoopbackServer;
  beforeAll(async () => {
    api = await startHttpServer((request, response) => {
      // An API that quotes the request's credentials back in its error (some do).
      response.writeHead(request.url === "/ok" ? 200 : 403, { "content-type": "application/json" });
      response.end(
        JSON.stringify({ error: "account locked", echo: request.headers.authorization, pw: password }),
      );
    });
  });
  afterAll(closeAllServers);
  const resolver = () =>
    new TestConnectorResolver([
      testConnector({ name: "CRM", baseUrl: api.url, username: "flows", password }),
    ]);

  it("keeps the API's error in the trace, scrubbed of the credentials", async () => {
    const run = await runHttp(
      { connectors: resolver(), allowLoopbackHttp: true },
      { connector: "CRM", requestPath: "/x" },
    );
    expect(run.entry.error?.kind).toBe("http-status");
    expect(run.http.responseExcerpt).toContain('"error":"account locked"');
    expect(run.http.responseExcerpt).not.toContain(password);
    expect(run.http.responseExcerpt).not.toContain(basicHeader("flows", password).slice("Basic ".length));
  });

  it("printed as `flowrun run` prints it (through the engine's scrubber), shows no form of the password", async () => {
    const engine = createEngine({ connectors: resolver(), allowLoopbackHttp: true });
    try {
      const result = await engine.compile(httpFlow({ connector: "CRM", requestPath: "/x" })).run();
      const printed = formatTrace("http-test", engine.scrubber.scrubValue(result), paint(false));
      expect(printed).toContain('answered: {"error":"account locked"');
      // The flow's own copy of the body (set out = ...) is scrubbed on the way out too.
      expect(printed).toContain("set out = ");
      expect(printed).not.toContain(password);
      expect(printed).not.toContain(basicHeader("flows", password).slice("Basic ".length));
    } finally {
      await engine.close();
    }
  });

  it("is absent for a 2xx answer", async () => {
    const run = await runHttp(
      { connectors: resolver(), allowLoopbackHttp: true },
      { connector: "CRM", requestPath: "/ok" },
    );
    expect(run.entry.error).toBeUndefined();
    expect(run.http.responseExcerpt).toBeUndefined();
  });
});
