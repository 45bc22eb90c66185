// A host that runs the standard OpenTelemetry undici instrumentation and the W3C propagator (as
// @opentelemetry/auto-instrumentations-node does): flowrun's requests stay in the run's trace, get no second
// CLIENT span and no traceparent unless their connector opted in. The real instrumentation package, real servers.
import { context, propagation, trace } from "@opentelemetry/api";
import { isTracingSuppressed, W3CTraceContextPropagator } from "@opentelemetry/core";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { type Dispatcher, request as undiciRequest } from "undici";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { type InstalledTelemetry, installTelemetry, points } from "../helpers/telemetry.js";
import { startTokenServer, type TokenServer } from "../helpers/token-server.js";

const env = { INSTR_CLIENT_SECRET: "instr-Cl1entSecret-77", INSTR_PASSWORD: "instr-Pa55word-77" };
const UNDICI_SCOPE = "@opentelemetry/instrumentation-undici";

let api: LoopbackServer;
let tokens: TokenServer;
let installed: InstalledTelemetry;
let instrumentation: UndiciInstrumentation;

beforeAll(async () => {
  api = await startHttpServer();
  tokens = await startTokenServer();
});
afterAll(async () => {
  await closeAllServers();
  await tokens.close();
});
beforeEach(() => {
  installed = installTelemetry({ contextManager: true });
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  instrumentation = new UndiciInstrumentation();
  api.received.length = 0;
});
afterEach(async () => {
  instrumentation.disable();
  propagation.disable();
  await installed.uninstall();
});

function registry(): ConnectorRegistry {
  return new ConnectorRegistry(
    {
      connectors: [
        {
          id: "crm-id",
          name: "CRM",
          type: "custom",
          status: "active",
          propagateTraceContext: true,
          resourceDomainUrl: `${api.url}/crm`,
          auth: {
            type: "oauth2",
            grantType: "client_credentials",
            clientId: "flows",
            clientSecret: { env: "INSTR_CLIENT_SECRET" },
            clientAuth: "basic",
            tokenUrl: tokens.url("/oauth/token"),
          },
        },
        {
          id: "billing-id",
          name: "Billing",
          type: "custom",
          status: "active",
          propagateTraceContext: false,
          resourceDomainUrl: `${api.url}/billing`,
          auth: {
            type: "oauth2",
            grantType: "client_credentials",
            clientId: "flows",
            clientSecret: { env: "INSTR_CLIENT_SECRET" },
            clientAuth: "basic",
            tokenUrl: tokens.url("/billing/token"),
          },
        },
      ],
    },
    { allowLoopbackHttp: true },
  );
}

const next = (to: string) => ({ success: to, error: to, timeout: to });
const flow = {
  name: "two-connectors",
  variables: {},
  start: "crm",
  activities: {
    crm: { type: "http-request", connector: "CRM", requestPath: "/accounts", next: next("billing") },
    billing: { type: "http-request", connector: "Billing", requestPath: "/invoices", next: next("plain") },
    plain: { type: "http-request", useAuthenticatedEndpoint: false, requestUrl: "", next: next("end") },
    end: { type: "end-flow" },
  },
};

function received(path: string) {
  const found = api.received.find((r) => r.url.startsWith(path));
  expect(found, `a request to ${path}`).toBeDefined();
  return found!;
}

/** Records, for every request an engine dispatches, the context active at that moment. */
function contextSpy(
  seen: { traceId?: string; suppressed: boolean }[],
): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const active = context.active();
    seen.push({ traceId: trace.getSpanContext(active)?.traceId, suppressed: isTracingSuppressed(active) });
    return dispatch(options, handler);
  };
}

describe("under @opentelemetry/instrumentation-undici with the W3C propagator", () => {
  it("the instrumentation traces and propagates a request that is not flowrun's (the setup is live)", async () => {
    await installed.hostTracer.startActiveSpan("host work", async (span) => {
      await (await undiciRequest(`${api.url}/host-own`)).body.text();
      span.end();
    });
    expect(received("/host-own").headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(installed.spans().filter((s) => s.instrumentationScope.name === UNDICI_SCOPE)).toHaveLength(1);
  });

  it("flowrun's requests: in the run's trace and context, no second span, traceparent only where opted in", async () => {
    const seen: { traceId?: string; suppressed: boolean }[] = [];
    const engine = createEngine({
      connectors: registry(),
      allowLoopbackHttp: true,
      secrets: { env },
      interceptors: [contextSpy(seen)],
    });
    const compiled = engine.compile({
      ...flow,
      activities: { ...flow.activities, plain: { ...flow.activities.plain, requestUrl: `${api.url}/plain` } },
    });
    let hostTraceId = "";
    const result = await installed.hostTracer.startActiveSpan("incoming call", async (span) => {
      hostTraceId = span.spanContext().traceId;
      const ran = await compiled.run({ contact: {} });
      span.end();
      return ran;
    });
    await engine.close();
    expect(result.status).toBe("completed");

    const spans = installed.spans();
    expect(spans.filter((s) => s.instrumentationScope.name === UNDICI_SCOPE)).toEqual([]);
    for (const span of spans) expect(span.spanContext().traceId).toBe(hostTraceId);
    const crmAttempt = spans.find((s: ReadableSpan) => s.attributes["flowrun.activity.id"] === "crm")!;
    expect(received("/crm/").headers.traceparent).toBe(
      `00-${hostTraceId}-${crmAttempt.spanContext().spanId}-01`,
    );
    expect(received("/billing/").headers.traceparent).toBeUndefined();
    expect(received("/plain").headers.traceparent).toBeUndefined();
    expect(tokens.requests).toHaveLength(2);
    for (const tokenRequest of tokens.requests) expect(tokenRequest.headers.traceparent).toBeUndefined();

    // Two token requests and three API calls, each dispatched in the run's trace with tracing suppressed.
    expect(seen).toHaveLength(5);
    for (const dispatched of seen) expect(dispatched).toEqual({ traceId: hostTraceId, suppressed: true });
  });

  it("flowrun records http.client.request.duration for its requests (API and token)", async () => {
    const engine = createEngine({ connectors: registry(), allowLoopbackHttp: true, secrets: { env } });
    const compiled = engine.compile({
      ...flow,
      activities: { ...flow.activities, plain: { ...flow.activities.plain, requestUrl: `${api.url}/plain` } },
    });
    expect((await compiled.run({ contact: {} })).status).toBe("completed");
    await engine.close();
    const durations = points(await installed.metrics(), "http.client.request.duration");
    const get = durations.find((p) => p.attributes["http.request.method"] === "GET");
    const post = durations.find((p) => p.attributes["http.request.method"] === "POST");
    expect(get?.attributes).toEqual({
      "http.request.method": "GET",
      "server.address": "127.0.0.1",
      "server.port": api.port,
      "url.scheme": "http",
      "http.response.status_code": 200,
    });
    expect((get?.value as { count: number } | undefined)?.count).toBe(3);
    expect((post?.value as { count: number } | undefined)?.count).toBe(2);
  });
});
