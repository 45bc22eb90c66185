// OpenTelemetry: spans and metrics as a host's SDK receives them (the SDK's in-memory exporters),
// against real loopback servers; W3C traceparent only where a connector opts in.
import {
  context,
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ConnectorValidationError } from "../../src/connectors/errors.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import { startRunTelemetry } from "../../src/core/telemetry.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { httpFlow } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { counted, type InstalledTelemetry, installTelemetry, points } from "../helpers/telemetry.js";
import { startTokenServer, type TokenServer } from "../helpers/token-server.js";

const CLIENT_SECRET = "otel-Cl1entSecret-4242";
const BASIC_PASSWORD = "otel-Ba51cPassword-4242";
const env = { OTEL_CLIENT_SECRET: CLIENT_SECRET, OTEL_BASIC_PASSWORD: BASIC_PASSWORD };

let api: LoopbackServer;
let tokens: TokenServer;
let installed: InstalledTelemetry | undefined;

beforeAll(async () => {
  api = await startHttpServer();
  tokens = await startTokenServer();
});
afterAll(async () => {
  await closeAllServers();
  await tokens.close();
});
afterEach(async () => {
  await installed?.uninstall();
  installed = undefined;
  api.received.length = 0;
});

/** CRM: OAuth client credentials against `tokenUrl`, opted in to trace propagation. */
function crmConnector(tokenUrl: string) {
  return {
    id: "crm-id",
    name: "CRM",
    type: "custom" as const,
    status: "active" as const,
    propagateTraceContext: true,
    resourceDomainUrl: `${api.url}/crm`,
    auth: {
      type: "oauth2" as const,
      grantType: "client_credentials" as const,
      clientId: "flows",
      clientSecret: { env: "OTEL_CLIENT_SECRET" },
      clientAuth: "basic" as const,
      tokenUrl,
    },
  };
}

/** CRM, and Billing: basic auth, not opted in. */
function registry(): ConnectorRegistry {
  const billing = {
    id: "billing-id",
    name: "Billing",
    type: "custom" as const,
    status: "active" as const,
    resourceDomainUrl: `${api.url}/billing`,
    auth: { type: "basic" as const, username: "flows", password: { env: "OTEL_BASIC_PASSWORD" } },
  };
  return new ConnectorRegistry(
    { connectors: [crmConnector(tokens.url("/oauth/token")), billing] },
    { allowLoopbackHttp: true },
  );
}

/** Three requests: through the opted-in connector, a plain requestUrl, a connector that did not opt in. */
function threeCalls() {
  const next = (to: string) => ({ success: to, error: to, timeout: to });
  return {
    name: "three-calls",
    variables: {},
    start: "crm",
    activities: {
      crm: {
        type: "http-request",
        connector: "CRM",
        requestPath: "/accounts",
        queryParameters: { phone: "{{ contact.ani }}", api_key: "k-12345678" },
        next: next("plain"),
      },
      plain: {
        type: "http-request",
        useAuthenticatedEndpoint: false,
        requestUrl: `${api.url}/plain`,
        next: next("billing"),
      },
      billing: { type: "http-request", connector: "Billing", requestPath: "/invoices", next: next("end") },
      end: { type: "end-flow" },
    },
  };
}

function engineFor(connectors = registry()) {
  return createEngine({ connectors, allowLoopbackHttp: true, secrets: { env } });
}

function named(spans: ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name);
}

function only(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = named(spans, name);
  expect(found).toHaveLength(1);
  return found[0]!;
}

function received(path: string) {
  const request = api.received.find((r) => r.url.startsWith(path));
  expect(request, `a request to ${path}`).toBeDefined();
  return request!;
}

describe("spans", () => {
  it("without a context manager: run under the host's span, token fetch and attempts under the run, one trace", async () => {
    installed = installTelemetry();
    // No context manager: context.with() does not make anything active.
    context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(INVALID_SPAN_CONTEXT)), () =>
      expect(context.active()).toBe(ROOT_CONTEXT),
    );
    const engine = engineFor();
    const host = installed.hostTracer.startSpan("incoming call");
    const result = await engine
      .compile(threeCalls())
      .run({ contact: { ani: "+15551234567" }, traceContext: trace.setSpan(ROOT_CONTEXT, host) });
    host.end();
    await engine.close();
    expect(result.status).toBe("completed");

    const spans = installed.spans();
    const hostContext = host.spanContext();
    const run = only(spans, "flowrun.run");
    expect(run.parentSpanContext?.spanId).toBe(hostContext.spanId);
    expect(run.attributes).toEqual({
      "flowrun.flow.name": "three-calls",
      "flowrun.run.status": "completed",
      "flowrun.run.reason": "none",
    });
    expect(run.status.code).toBe(SpanStatusCode.UNSET);

    const fetch = only(spans, "flowrun.token.fetch");
    expect(fetch.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
    expect(fetch.attributes).toEqual({
      "flowrun.connector.id": "crm-id",
      "flowrun.connector.type": "custom",
      "flowrun.token.grant": "client-credentials",
      "server.address": "127.0.0.1",
    });

    const attempts = named(spans, "GET");
    expect(attempts).toHaveLength(3);
    for (const attempt of attempts) {
      expect(attempt.kind).toBe(SpanKind.CLIENT);
      expect(attempt.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
      expect(attempt.attributes["http.response.status_code"]).toBe(200);
      expect(attempt.attributes["server.address"]).toBe("127.0.0.1");
      expect(attempt.attributes["server.port"]).toBe(api.port);
      expect(attempt.attributes["error.type"]).toBeUndefined();
    }
    const crm = attempts.find((span) => span.attributes["flowrun.activity.id"] === "crm")!;
    expect(crm.attributes["http.request.method"]).toBe("GET");
    // Redacted exactly as the run's trace shows it.
    const crmEntry = result.trace.find((entry) => entry.activity === "crm") as unknown as {
      http: { url: string; requestHeaders: Record<string, string> };
    };
    expect(crm.attributes["url.full"]).toBe(crmEntry.http.url);
    expect(crm.attributes["url.full"]).toBe(
      `${api.url}/crm/accounts?phone=%2B15551234567&api_key=[REDACTED]`,
    );

    for (const span of spans) expect(span.spanContext().traceId).toBe(hostContext.traceId);

    // traceparent: the opted-in connector's request carries its attempt span; the others carry nothing.
    expect(received("/crm/").headers.traceparent).toBe(
      `00-${hostContext.traceId}-${crm.spanContext().spanId}-01`,
    );
    expect(received("/plain").headers.traceparent).toBeUndefined();
    expect(received("/billing/").headers.traceparent).toBeUndefined();
    expect(tokens.requests.at(-1)?.headers.traceparent).toBeUndefined();
    // The run's trace shows the request as sent, traceparent included.
    expect(
      (crmEntry as unknown as { http: { requestHeaders: Record<string, string> } }).http.requestHeaders,
    ).toMatchObject({ traceparent: received("/crm/").headers.traceparent });
  });

  it("with a context manager: the run span is a child of the host's active span", async () => {
    installed = installTelemetry({ contextManager: true });
    const engine = engineFor();
    const flow = engine.compile(threeCalls());
    const host = await installed.hostTracer.startActiveSpan("incoming call", async (span) => {
      await flow.run({ contact: { ani: "+15551234567" } });
      span.end();
      return span;
    });
    await engine.close();
    const run = only(installed.spans(), "flowrun.run");
    expect(run.parentSpanContext?.spanId).toBe(host.spanContext().spanId);
    expect(run.spanContext().traceId).toBe(host.spanContext().traceId);
  });

  it("without a host span: the run span is a root and its children still point at it", async () => {
    installed = installTelemetry();
    const engine = engineFor();
    await engine.compile(threeCalls()).run({ contact: { ani: "+15551234567" } });
    await engine.close();
    const spans = installed.spans();
    const run = only(spans, "flowrun.run");
    expect(run.parentSpanContext).toBeUndefined();
    const children = spans.filter((span) => span !== run);
    expect(children.length).toBe(4);
    for (const child of children) expect(child.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
  });
});

describe("error.type on failed attempts", () => {
  async function failingRun(
    activity: Record<string, unknown>,
    flow: unknown = httpFlow({ useAuthenticatedEndpoint: false, ...activity }),
  ) {
    installed = installTelemetry();
    const engine = createEngine({ allowLoopbackHttp: true });
    const result = await engine.compile(flow).run();
    await engine.close();
    return { result, spans: installed.spans() };
  }

  it("timeout", async () => {
    const slow = await startHttpServer(() => {}); // never answers
    const { spans } = await failingRun({ requestUrl: `${slow.url}/slow`, timeoutMs: 150, retries: 0 });
    const attempt = only(spans, "GET");
    expect(attempt.attributes["error.type"]).toBe("timeout");
    expect(attempt.status.code).toBe(SpanStatusCode.ERROR);
    expect(attempt.attributes["http.response.status_code"]).toBeUndefined();
  });

  it("network", async () => {
    const closed = await startHttpServer();
    const url = `${closed.url}/gone`;
    await closed.close();
    const { spans } = await failingRun({ requestUrl: url, retries: 0 });
    const attempt = only(spans, "GET");
    expect(attempt.attributes["error.type"]).toBe("network");
    expect(attempt.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("http-status: the status code (semantic conventions), and the failed run carries the error kind", async () => {
    const failing = await startHttpServer((_request, response) => {
      response.statusCode = 500;
      response.end("{}");
    });
    const flow = {
      name: "unhandled",
      variables: {},
      start: "call",
      activities: {
        call: {
          type: "http-request",
          useAuthenticatedEndpoint: false,
          requestUrl: `${failing.url}/x`,
          retries: 0,
          next: { success: "end" },
        },
        end: { type: "end-flow" },
      },
    };
    const { result, spans } = await failingRun({}, flow);
    expect(result.status).toBe("failed");
    const attempt = only(spans, "GET");
    expect(attempt.attributes["error.type"]).toBe("500");
    expect(attempt.attributes["http.response.status_code"]).toBe(500);
    expect(attempt.status.code).toBe(SpanStatusCode.ERROR);
    const run = only(spans, "flowrun.run");
    expect(run.attributes["flowrun.run.status"]).toBe("failed");
    expect(run.attributes["flowrun.run.reason"]).toBe("unhandled-outcome");
    expect(run.attributes["error.type"]).toBe("http-status");
    expect(run.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("a run past its deadline: run span error.type deadline, the cut attempt ends aborted", async () => {
    const slow = await startHttpServer(() => {}); // never answers
    installed = installTelemetry();
    const engine = createEngine({ allowLoopbackHttp: true });
    const flow = engine.compile(
      httpFlow({ useAuthenticatedEndpoint: false, requestUrl: `${slow.url}/slow` }),
    );
    const result = await flow.run({ deadlineMs: 100 });
    expect(result.status).toBe("aborted");
    const run = only(installed.spans(), "flowrun.run");
    expect(run.attributes["flowrun.run.reason"]).toBe("deadline");
    expect(run.attributes["error.type"]).toBe("deadline");
    expect(run.status.code).toBe(SpanStatusCode.ERROR);
    await vi.waitFor(() => expect(named(installed!.spans(), "GET")).toHaveLength(1));
    expect(only(installed.spans(), "GET").attributes["error.type"]).toBe("aborted");
    const cut = points(await installed.metrics(), "flowrun.activity.duration").find(
      (point) => point.attributes["flowrun.activity.outcome"] === "aborted",
    );
    expect(cut?.attributes["flowrun.activity.type"]).toBe("http-request");
    expect(cut?.value).toMatchObject({ count: 1 });
    await engine.close();
  });

  it("a retried attempt is a span of its own with http.request.resend_count", async () => {
    let calls = 0;
    const flaky = await startHttpServer((_request, response) => {
      response.statusCode = ++calls === 1 ? 503 : 200;
      response.setHeader("retry-after", "0");
      response.end("{}");
    });
    const { spans } = await failingRun({ requestUrl: `${flaky.url}/flaky`, retries: 1 });
    const attempts = named(spans, "GET");
    expect(attempts.map((span) => span.attributes["http.response.status_code"])).toEqual([503, 200]);
    expect(attempts.map((span) => span.attributes["http.request.resend_count"])).toEqual([undefined, 1]);
    expect(attempts[0]!.attributes["error.type"]).toBe("503");
  });

  it("a failed token request ends its span with error.type", async () => {
    const refusing = await startTokenServer({ fallback: { status: 401, json: { error: "invalid_client" } } });
    installed = installTelemetry();
    const connectors = new ConnectorRegistry(
      { connectors: [crmConnector(refusing.url("/oauth/token"))] },
      { allowLoopbackHttp: true },
    );
    const engine = engineFor(connectors);
    await engine.compile(httpFlow({ connector: "CRM", requestPath: "/a" })).run();
    await engine.close();
    await refusing.close();
    const fetch = only(installed.spans(), "flowrun.token.fetch");
    expect(fetch.attributes["error.type"]).toBe("invalid-client"); // the AuthError code (docs/auth-errors.md)
    expect(fetch.status.code).toBe(SpanStatusCode.ERROR);
    expect(named(installed.spans(), "GET")).toHaveLength(0);
  });
});

describe("traceparent without an SDK", () => {
  it("an opted-in connector forwards the host's span context passed as traceContext; nothing without one", async () => {
    const engine = engineFor();
    const flow = engine.compile(threeCalls());
    const hostSpan = trace.wrapSpanContext({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      traceFlags: TraceFlags.SAMPLED,
    });
    await flow.run({ contact: { ani: "1" }, traceContext: trace.setSpan(ROOT_CONTEXT, hostSpan) });
    expect(received("/crm/").headers.traceparent).toBe(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    expect(received("/plain").headers.traceparent).toBeUndefined();
    expect(received("/billing/").headers.traceparent).toBeUndefined();
    api.received.length = 0;
    await flow.run({ contact: { ani: "1" } });
    expect(received("/crm/").headers.traceparent).toBeUndefined();
    await engine.close();
  });

  it("no provider, no parent: a run has no telemetry; a provider registered later is picked up", async () => {
    expect(startRunTelemetry("x", undefined)).toBeUndefined();
    installed = installTelemetry();
    const run = startRunTelemetry("x", undefined);
    expect(run?.span?.isRecording()).toBe(true);
    run?.ended({ status: "completed", reason: null });
    await installed.uninstall();
    installed = undefined;
    expect(startRunTelemetry("x", undefined)).toBeUndefined();
  });
});

describe("metrics", () => {
  it("runs by status, activity durations, attempts by outcome, token fetches, token cache hits and misses", async () => {
    installed = installTelemetry();
    const engine = engineFor();
    const flow = engine.compile(threeCalls());
    for (let i = 0; i < 3; i++) await flow.run({ contact: { ani: "+15551234567" } });
    await engine.close();
    const data = await installed.metrics();

    expect(
      counted(data, "flowrun.runs", { "flowrun.run.status": "completed", "flowrun.run.reason": "none" }),
    ).toBe(3);
    expect(
      counted(data, "flowrun.http.attempts", {
        "http.request.method": "GET",
        "flowrun.http.outcome": "success",
        "http.response.status_code": 200,
      }),
    ).toBe(9);
    expect(counted(data, "flowrun.token.fetches", { "flowrun.connector.type": "custom" })).toBe(1);
    expect(counted(data, "flowrun.token.cache.misses", { "flowrun.connector.type": "custom" })).toBe(1);
    expect(counted(data, "flowrun.token.cache.hits", { "flowrun.connector.type": "custom" })).toBe(2);

    const durations = points(data, "flowrun.activity.duration");
    const httpDurations = durations.find(
      (point) =>
        point.attributes["flowrun.activity.type"] === "http-request" &&
        point.attributes["flowrun.activity.outcome"] === "success",
    );
    expect(httpDurations?.value).toMatchObject({ count: 9 });
    const endDurations = durations.find((point) => point.attributes["flowrun.activity.type"] === "end-flow");
    expect(endDurations?.value).toMatchObject({ count: 3 });
    expect(
      data.find((metric) => metric.descriptor.name === "flowrun.activity.duration")?.descriptor.unit,
    ).toBe("s");

    // flowrun's own labels are low-cardinality: no URL, host, path, id or phone number in any of them. (The
    // standard http.client.request.duration carries server.address and server.port, as its conventions require.)
    const own = data.filter((metric) => metric.descriptor.name.startsWith("flowrun."));
    const labels = own.flatMap((metric) =>
      metric.dataPoints.flatMap((point) => Object.entries(point.attributes)),
    );
    for (const [, value] of labels) expect(String(value)).not.toMatch(/127\.0\.0\.1|\/|crm-id|555/);
  });

  it("counts failed attempts by their outcome", async () => {
    installed = installTelemetry();
    const closed = await startHttpServer();
    const url = `${closed.url}/gone`;
    await closed.close();
    const engine = createEngine({ allowLoopbackHttp: true });
    await engine.compile(httpFlow({ useAuthenticatedEndpoint: false, requestUrl: url, retries: 0 })).run();
    await engine.close();
    const data = await installed.metrics();
    expect(counted(data, "flowrun.http.attempts", { "flowrun.http.outcome": "network" })).toBe(1);
    expect(counted(data, "flowrun.http.attempts", { "flowrun.http.outcome": "success" })).toBe(0);
  });
});

describe("connector field propagateTraceContext", () => {
  it("must be a boolean", () => {
    const make = () =>
      new ConnectorRegistry({
        connectors: [
          {
            id: "a",
            name: "A",
            type: "custom",
            propagateTraceContext: "yes",
            resourceDomainUrl: "https://crm.example.com",
            auth: { type: "basic", username: "u", password: { env: "P" } },
          },
        ],
      } as never);
    expect(make).toThrow(ConnectorValidationError);
    expect(make).toThrow(/propagateTraceContext/);
  });
});
