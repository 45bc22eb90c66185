import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createEngine } from "../../src/runtime/create-engine.js";
import { httpFlow, runHttp } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, okJson, startHttpServer } from "../helpers/servers.js";
import { basicHeader, TestConnectorResolver, testConnector } from "../helpers/test-connectors.js";

let api: LoopbackServer;
let elsewhere: LoopbackServer;
let resolver: TestConnectorResolver;
const PASSWORD = "s3cret-Pa55word";

beforeAll(async () => {
  api = await startHttpServer();
  elsewhere = await startHttpServer();
  resolver = new TestConnectorResolver([
    testConnector({ name: "CRM", baseUrl: `${api.url}/api`, username: "flows", password: PASSWORD }),
  ]);
});
afterAll(closeAllServers);
beforeEach(() => {
  api.received.length = 0;
  elsewhere.received.length = 0;
  api.handle(okJson);
});

const engineOptions = () => ({ connectors: resolver, allowLoopbackHttp: true });
const call = (fields: Record<string, unknown>) => ({ connector: "CRM", requestPath: "/accounts", ...fields });

describe("http-request: sending", () => {
  it("sends an authenticated GET with the connector's credentials and takes success", async () => {
    const run = await runHttp(engineOptions(), call({ queryParameters: { phone: "{{ contact.ani }}" } }), {
      run: { contact: { ani: "+1 555 123" } },
    });
    expect(run.entry.outcome).toBe("success");
    expect(run.result.status).toBe("completed");
    expect(api.received).toHaveLength(1);
    expect(api.received[0]!.url).toBe("/api/accounts?phone=%2B1%20555%20123");
    expect(api.received[0]!.headers.authorization).toBe(basicHeader("flows", PASSWORD));
    expect(run.outputs).toMatchObject({
      statusCode: 200,
      body: '{"ok":true}',
      json: { ok: true },
      headers: { "content-type": "application/json" },
    });
    expect(typeof run.outputs.durationMs).toBe("number");
    expect(run.http).toMatchObject({
      method: "GET",
      url: `${api.url}/api/accounts?phone=%2B1%20555%20123`,
      status: 200,
      attempts: 1,
      tokenFetched: true,
      requestHeaders: { authorization: "[REDACTED]" },
    });
  });

  it("never shows the basic-auth credential anywhere in the result", async () => {
    api.handle((_request, response) => {
      response.statusCode = 500;
      response.end("boom");
    });
    const run = await runHttp(engineOptions(), call({ headers: { "X-Api-Key": "k-123456789" } }));
    const text = JSON.stringify(run.result);
    expect(text).not.toContain(basicHeader("flows", PASSWORD));
    expect(text).not.toContain(Buffer.from(`flows:${PASSWORD}`).toString("base64"));
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain("k-123456789");
    expect(run.http.requestHeaders["x-api-key"]).toBe("[REDACTED]");
  });

  it("redacts secret-looking query parameters in the trace but sends them", async () => {
    const run = await runHttp(engineOptions(), call({ queryParameters: { api_key: "abcdef123", q: "x" } }));
    expect(api.received[0]!.url).toBe("/api/accounts?api_key=abcdef123&q=x");
    expect(run.http.url).toBe(`${api.url}/api/accounts?api_key=[REDACTED]&q=x`);
  });

  it("encodes query values that contain reserved characters", async () => {
    await runHttp(engineOptions(), call({ queryParameters: { q: "{{ q }}", "a b": "1" } }), {
      variables: { q: "a&b=c/d?é#" },
    });
    const url = new URL(api.received[0]!.url, api.url);
    expect(url.searchParams.get("q")).toBe("a&b=c/d?é#");
    expect(url.searchParams.get("a b")).toBe("1");
    expect(api.received[0]!.url).toContain("q=a%26b%3Dc%2Fd%3F%C3%A9%23");
  });

  it("keeps a JSON body's structure whatever a template inserts", async () => {
    const hostile = '"}, "admin": true, "x": {"';
    await runHttp(
      engineOptions(),
      call({
        method: "POST",
        body: {
          name: "{{ name }}",
          greeting: "Hello {{ name }}",
          count: "{{ count }}",
          fixed: [1, true, null],
        },
      }),
      { variables: { name: hostile, count: 3 } },
    );
    const received = api.received[0]!;
    expect(received.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(received.body)).toEqual({
      name: hostile,
      greeting: `Hello ${hostile}`,
      count: 3,
      fixed: [1, true, null],
    });
    expect(Object.keys(JSON.parse(received.body))).not.toContain("admin");
  });

  it("sends a JSON body key named __proto__ as an ordinary key", async () => {
    // JSON.parse gives the flow an own "__proto__" key; assigning it to a plain object would set a prototype
    // instead and silently drop the field.
    const body = JSON.parse('{"__proto__": {"tier": "{{ name }}"}, "ok": true}') as Record<string, unknown>;
    await runHttp(engineOptions(), call({ method: "POST", body }), { variables: { name: "gold" } });
    const sent = api.received[0]!.body;
    expect(sent).toBe('{"__proto__":{"tier":"gold"},"ok":true}');
  });

  it("sends a JSON body without templates as written, run after run (built once, at compile time)", async () => {
    const body = JSON.parse(
      '{"__proto__": {"tier": "gold"}, "note": "50% off }}", "n": [1, 2.5, null]}',
    ) as Record<string, unknown>;
    const engine = createEngine(engineOptions());
    const flow = engine.compile(httpFlow(call({ method: "POST", body })));
    for (let i = 0; i < 2; i++) await flow.run();
    await engine.close();
    expect(api.received.map((received) => received.body)).toEqual([
      '{"__proto__":{"tier":"gold"},"note":"50% off }}","n":[1,2.5,null]}',
      '{"__proto__":{"tier":"gold"},"note":"50% off }}","n":[1,2.5,null]}',
    ]);
  });

  it("encodes a form body", async () => {
    await runHttp(
      engineOptions(),
      call({
        method: "POST",
        contentType: "application/x-www-form-urlencoded",
        body: { user: "{{ user }}", note: "a&b=c" },
      }),
      { variables: { user: "jo é" } },
    );
    const received = api.received[0]!;
    expect(received.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(received.body))).toEqual({ user: "jo é", note: "a&b=c" });
  });

  it("sends text and XML bodies as rendered templates", async () => {
    await runHttp(engineOptions(), call({ method: "PUT", contentType: "text/plain", body: "hi {{ who }}" }), {
      variables: { who: "there" },
    });
    await runHttp(
      engineOptions(),
      call({ method: "POST", contentType: "application/xml", body: "<a>{{ who }}</a>" }),
      { variables: { who: "x" } },
    );
    expect(api.received.map((r) => [r.method, r.headers["content-type"], r.body])).toEqual([
      ["PUT", "text/plain", "hi there"],
      ["POST", "application/xml", "<a>x</a>"],
    ]);
  });

  it("sends rendered custom headers", async () => {
    await runHttp(engineOptions(), call({ headers: { "X-Caller": "{{ contact.ani }}" } }), {
      run: { contact: { ani: "+1555" } },
    });
    expect(api.received[0]!.headers["x-caller"]).toBe("+1555");
  });

  it.each(["a\r\nX-Injected: 1", "a\nb", "a\rb"])("refuses a header value with CR/LF (%j)", async (value) => {
    const run = await runHttp(engineOptions(), call({ headers: { "X-Caller": "{{ v }}" } }), {
      variables: { v: value },
    });
    expect(run.entry.outcome).toBe("error");
    expect(run.outputs.error?.kind).toBe("invalid-request");
    expect(api.received).toHaveLength(0);
  });
});

describe("http-request: responses and error kinds", () => {
  it("a non-2xx status is kind http-status and keeps the response in the outputs", async () => {
    api.handle((_request, response) => {
      response.statusCode = 404;
      response.setHeader("content-type", "application/json");
      response.end('{"error":"no such account"}');
    });
    const run = await runHttp(engineOptions(), call({}));
    expect(run.entry.outcome).toBe("error");
    expect(run.outputs.error?.kind).toBe("http-status");
    expect(run.outputs.statusCode).toBe(404);
    expect(run.outputs.json).toEqual({ error: "no such account" });
  });

  it("does not follow redirects: a 301 is http-status and the target receives nothing", async () => {
    api.handle((_request, response) => {
      response.statusCode = 301;
      response.setHeader("location", `${elsewhere.url}/stolen`);
      response.end();
    });
    const run = await runHttp(engineOptions(), call({}));
    expect(run.outputs.error?.kind).toBe("http-status");
    expect(run.outputs.statusCode).toBe(301);
    expect(run.outputs.headers.location).toBe(`${elsewhere.url}/stolen`);
    expect(elsewhere.received).toHaveLength(0);
  });

  it("a slow server is kind timeout and takes the timeout outcome", async () => {
    api.handle((_request, response) => {
      setTimeout(() => response.end("late"), 2000).unref();
    });
    const run = await runHttp(engineOptions(), call({ timeoutMs: 100 }));
    expect(run.entry.outcome).toBe("timeout");
    expect(run.outputs.error?.kind).toBe("timeout");
  });

  it("an unlinked timeout falls back to the error link", async () => {
    api.handle((_request, response) => {
      setTimeout(() => response.end("late"), 2000).unref();
    });
    const { createEngine } = await import("../../src/runtime/create-engine.js");
    const engine = createEngine(engineOptions());
    const flow = engine.compile({
      name: "fallback",
      start: "call",
      activities: {
        call: { type: "http-request", ...call({ timeoutMs: 50 }), next: { success: "end", error: "sorry" } },
        sorry: { type: "play-message", prompt: "sorry", next: { default: "end" } },
        end: { type: "end-flow" },
      },
    });
    const result = await flow.run();
    await engine.close();
    expect(result.path).toEqual(["call", "sorry", "end"]);
  });

  it("a refused connection is kind network", async () => {
    const closed = await startHttpServer();
    const base = closed.url;
    await closed.close();
    const run = await runHttp(
      { allowLoopbackHttp: true },
      { useAuthenticatedEndpoint: false, requestUrl: `${base}/x` },
    );
    expect(run.outputs.error?.kind).toBe("network");
    expect(run.http.status).toBeNull();
  });

  it("a body over the cap is kind response-too-large", async () => {
    api.handle((_request, response) => {
      const chunk = Buffer.alloc(64 * 1024, "a");
      response.setHeader("content-type", "text/plain");
      let sent = 0;
      const write = () => {
        while (sent < 5 * 1024 * 1024) {
          sent += chunk.length;
          if (!response.write(chunk)) {
            response.once("drain", write);
            return;
          }
        }
        response.end();
      };
      response.on("error", () => {});
      write();
    });
    const run = await runHttp(engineOptions(), call({}));
    expect(run.outputs.error?.kind).toBe("response-too-large");
  });

  it("a declared content-length over a configured cap is refused without reading", async () => {
    api.handle((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ data: "x".repeat(200) }));
    });
    const run = await runHttp({ ...engineOptions(), maxResponseBytes: 100 }, call({}));
    expect(run.outputs.error?.kind).toBe("response-too-large");
  });

  it("a host abort during the request ends the run aborted", async () => {
    api.handle((_request, response) => {
      setTimeout(() => response.end("late"), 2000).unref();
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const run = await runHttp(engineOptions(), call({ timeoutMs: 10_000 }), {
      run: { signal: controller.signal },
    });
    expect(run.result.status).toBe("aborted");
    expect(run.result.reason).toBe("aborted");
  });
});
