import { createRequire } from "node:module";
import type * as OpenTelemetryApi from "@opentelemetry/api";
import type {
  Attributes,
  Context,
  Counter,
  Histogram,
  Meter,
  MeterProvider,
  Span,
  SpanContext,
  Tracer,
  TracerProvider,
} from "@opentelemetry/api";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_SCHEME,
  METRIC_HTTP_CLIENT_REQUEST_DURATION,
} from "@opentelemetry/semantic-conventions";
import { isAbortError } from "./budget.js";

/**
 * OpenTelemetry for flowrun, through `@opentelemetry/api` alone: the SDK is the host's. With no provider
 * registered nothing here allocates per run: `startRunTelemetry` returns undefined and every hook is skipped by
 * an `?.`. Child spans are parented by passing contexts explicitly, so parent links hold without a context manager.
 */

const SCOPE = "flowrun";

/**
 * The host's `@opentelemetry/api` (an optional peer dependency), or undefined when the host has none: then no
 * provider can be registered and telemetry is off. Loaded with `require` so that a missing API is not an import
 * error, and so that flowrun shares the host's copy of the API instead of a nested one the host never registers in.
 */
function loadOpenTelemetryApi(): typeof OpenTelemetryApi | undefined {
  try {
    return createRequire(import.meta.url)("@opentelemetry/api") as typeof OpenTelemetryApi;
  } catch {
    return undefined;
  }
}

const api = loadOpenTelemetryApi();

/** The API's no-op provider behind an empty ProxyTracerProvider: the global one delegates to it until a host registers. */
const NOOP_TRACER_PROVIDER = api && new api.ProxyTracerProvider().getDelegate();
const NOOP_METER = api?.createNoopMeter();

/**
 * The context key of `suppressTracing` in `@opentelemetry/core` (createContextKey is `Symbol.for` of this
 * description, so the key is the same symbol): instrumentations such as `@opentelemetry/instrumentation-undici`
 * neither trace nor inject headers into a request dispatched under it. flowrun traces its own requests.
 */
const SUPPRESS_TRACING = api?.createContextKey("OpenTelemetry SDK Context Key SUPPRESS_TRACING");

/**
 * Where API 1.x keeps every registered global (tracer and meter providers, context manager, propagator), shared by
 * all copies of the API in a process. Absent until a host registers something: the common case costs one lookup.
 */
const API_GLOBALS = Symbol.for("opentelemetry.js.api.1");

let tracerOf: { provider: TracerProvider; tracer: Tracer } | undefined;

/** The tracer of the registered provider; undefined while none is registered (checked per run: hosts register late). */
function currentTracer(): Tracer | undefined {
  if (!api) return undefined;
  const global = api.trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider };
  const provider = typeof global.getDelegate === "function" ? global.getDelegate() : global;
  if (provider === NOOP_TRACER_PROVIDER) return undefined;
  if (tracerOf?.provider !== provider) tracerOf = { provider, tracer: provider.getTracer(SCOPE) };
  return tracerOf.tracer;
}

/** SpanKind values (the API's enum), as numbers: the enum object exists only where the API is installed. */
const SPAN_KIND_INTERNAL = 0;
const SPAN_KIND_CLIENT = 2;

/** Histogram buckets for activity durations in seconds: from sub-millisecond steps to slow HTTP calls. */
const DURATION_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The buckets the HTTP semantic conventions advise for `http.client.request.duration`. */
const HTTP_CLIENT_DURATION_BUCKETS_S = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** flowrun's instruments on one meter. Every label is low-cardinality: no URL, no id, no secret. */
export class FlowrunInstruments {
  readonly runs: Counter;
  readonly activityDuration: Histogram;
  readonly httpAttempts: Counter;
  readonly tokenFetches: Counter;
  readonly tokenCacheHits: Counter;
  readonly tokenCacheMisses: Counter;
  /** The semantic conventions' `http.client.request.duration`: every request flowrun sends, API and token alike. */
  readonly httpClientDuration: Histogram;
  /** Attribute sets by activity type and outcome, built once: an activity ends a million times a second. */
  readonly #activityAttributes = new Map<string, Map<string | null, Attributes>>();

  constructor(meter: Meter) {
    this.runs = meter.createCounter("flowrun.runs", { description: "Runs ended, by status and reason" });
    this.activityDuration = meter.createHistogram("flowrun.activity.duration", {
      description: "Time an activity took, by activity type and outcome",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    });
    this.httpAttempts = meter.createCounter("flowrun.http.attempts", {
      description: "HTTP request attempts of http-request activities, by method and outcome",
    });
    this.tokenFetches = meter.createCounter("flowrun.token.fetches", {
      description: "Requests to token endpoints, by connector type and outcome",
    });
    this.tokenCacheHits = meter.createCounter("flowrun.token.cache.hits", {
      description: "Authorisations served from the token cache, by connector type",
    });
    this.tokenCacheMisses = meter.createCounter("flowrun.token.cache.misses", {
      description: "Authorisations that waited for a token request, by connector type",
    });
    this.httpClientDuration = meter.createHistogram(METRIC_HTTP_CLIENT_REQUEST_DURATION, {
      description: "Duration of HTTP client requests.",
      unit: "s",
      advice: { explicitBucketBoundaries: HTTP_CLIENT_DURATION_BUCKETS_S },
    });
  }

  activityAttributes(type: string, outcome: string | null): Attributes {
    let byOutcome = this.#activityAttributes.get(type);
    if (!byOutcome) {
      byOutcome = new Map();
      this.#activityAttributes.set(type, byOutcome);
    }
    let attributes = byOutcome.get(outcome);
    if (!attributes) {
      attributes = { "flowrun.activity.type": type, "flowrun.activity.outcome": outcome ?? "none" };
      byOutcome.set(outcome, attributes);
    }
    return attributes;
  }
}

let instrumentsOf: { provider: MeterProvider; instruments: FlowrunInstruments | undefined } | undefined;

/** The instruments on the registered meter provider; undefined while none is (the API keeps no proxy for meters). */
function currentInstruments(): FlowrunInstruments | undefined {
  if (!api) return undefined;
  const provider = api.metrics.getMeterProvider();
  if (instrumentsOf?.provider !== provider) {
    const meter = provider.getMeter(SCOPE);
    instrumentsOf = {
      provider,
      instruments: meter === NOOP_METER ? undefined : new FlowrunInstruments(meter),
    };
  }
  return instrumentsOf.instruments;
}

/** A low-cardinality name for why something failed: a FlowrunError's code, a timeout, or the error's class. */
export function errorType(error: unknown): string {
  if (isAbortError(error)) return "timeout";
  const name = (error as { name?: unknown } | null)?.name;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^[a-z][a-z-]*$/.test(code)) return code;
  return typeof name === "string" && name !== "" ? name : "_OTHER";
}

function endWithError(span: Span, type: string): void {
  span.setAttribute(ATTR_ERROR_TYPE, type);
  // SpanStatusCode.ERROR: the enum's value, so that no API object is needed where none may be installed.
  span.setStatus({ code: 2 });
}

/** How a run ended, as the engine reports it (engine/result.ts), without importing the engine. */
export interface RunEnd {
  readonly status: string;
  readonly reason: string | null;
  readonly error?: { readonly kind: string };
}

/**
 * One run's telemetry: its span (when tracing), the context its children are parented on, and the instruments
 * (when metering). Exists only while a provider is registered or the host passed a parent context.
 */
export class RunTelemetry {
  constructor(
    readonly tracer: Tracer | undefined,
    readonly span: Span | undefined,
    /** The run span's context: children start from it, so parent links need no context manager. */
    readonly context: Context,
    readonly instruments: FlowrunInstruments | undefined,
  ) {}

  activityEnded(type: string, outcome: string | null, durationMs: number): void {
    this.instruments?.activityDuration.record(
      durationMs / 1000,
      this.instruments.activityAttributes(type, outcome),
    );
  }

  ended(result: RunEnd): void {
    const { span, instruments } = this;
    const reason = result.reason ?? "none";
    instruments?.runs.add(1, { "flowrun.run.status": result.status, "flowrun.run.reason": reason });
    if (!span) return;
    if (span.isRecording()) {
      span.setAttributes({ "flowrun.run.status": result.status, "flowrun.run.reason": reason });
      if (result.status === "failed" || result.status === "aborted")
        endWithError(span, result.error?.kind ?? result.status);
    }
    span.end();
  }

  /** The span of one HTTP attempt (a CLIENT span named by the method, HTTP semantic conventions). */
  startHttpAttempt(request: HttpAttemptStart): HttpAttemptTelemetry {
    const span = this.tracer?.startSpan(request.method, { kind: SPAN_KIND_CLIENT }, this.context);
    if (span?.isRecording()) {
      span.setAttributes({
        [ATTR_HTTP_REQUEST_METHOD]: request.method,
        [ATTR_URL_FULL]: request.redactedUrl,
        ...serverAttributes(request.origin),
        "flowrun.activity.id": request.activityId,
      });
      if (request.resendCount > 0) span.setAttribute(ATTR_HTTP_REQUEST_RESEND_COUNT, request.resendCount);
    }
    const context = span && api ? api.trace.setSpan(this.context, span) : this.context;
    return new HttpAttemptTelemetry(span, this.instruments, request.method, context);
  }
}

export interface HttpAttemptStart {
  readonly method: string;
  /** `https://host:port` (parsed only for a recording span). */
  readonly origin: string;
  /** The URL as the run's trace shows it (core/redact.ts `redactUrl`): `url.full` never differs from the trace. */
  readonly redactedUrl: string;
  readonly activityId: string;
  /** Attempts before this one (`http.request.resend_count`). */
  readonly resendCount: number;
}

export class HttpAttemptTelemetry {
  constructor(
    readonly span: Span | undefined,
    private readonly instruments: FlowrunInstruments | undefined,
    private readonly method: string,
    /** The attempt's span in the run's context: the request is dispatched under it. */
    readonly context: Context,
  ) {}

  /** A response arrived; 4xx and 5xx are errors of a CLIENT span (`error.type` is the status code). */
  answered(status: number): void {
    this.instruments?.httpAttempts.add(1, {
      [ATTR_HTTP_REQUEST_METHOD]: this.method,
      "flowrun.http.outcome": status >= 200 && status <= 299 ? "success" : "http-status",
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
    });
    const span = this.span;
    if (!span) return;
    if (span.isRecording()) {
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (status >= 400) endWithError(span, String(status));
    }
    span.end();
  }

  /** No response: `timeout`, `network`, `response-too-large`, `aborted`, or the class of an unexpected error. */
  failed(error: unknown): void {
    const type = errorType(error);
    this.instruments?.httpAttempts.add(1, {
      [ATTR_HTTP_REQUEST_METHOD]: this.method,
      "flowrun.http.outcome": type,
    });
    if (!this.span) return;
    if (this.span.isRecording()) endWithError(this.span, type);
    this.span.end();
  }
}

/**
 * Starts a run's telemetry: a `flowrun.run` span, the child of `parent` (the host's context) or else of the
 * active context. Undefined, at the cost of two lookups, when no provider is registered and no parent is given.
 */
export function startRunTelemetry(flowName: string, parent: Context | undefined): RunTelemetry | undefined {
  if (!api || (parent === undefined && !(API_GLOBALS in globalThis))) return undefined;
  const tracer = currentTracer();
  const instruments = currentInstruments();
  if (!tracer && !instruments && parent === undefined) return undefined;
  const parentContext = parent ?? api.context.active();
  if (!tracer) return new RunTelemetry(undefined, undefined, parentContext, instruments);
  const span = tracer.startSpan("flowrun.run", { kind: SPAN_KIND_INTERNAL }, parentContext);
  if (span.isRecording()) span.setAttribute("flowrun.flow.name", flowName);
  return new RunTelemetry(tracer, span, api.trace.setSpan(parentContext, span), instruments);
}

/** What identifies a connector on token spans and metrics. */
export interface TokenFetchStart {
  readonly connectorId: string;
  readonly connectorType: string;
  /** The grant (`client-credentials`, `jwt-bearer`, ...). */
  readonly grant: string;
  readonly tokenUrl: string;
}

/** One token request: a `flowrun.token.fetch` span in the run's trace, and the token-fetch counter. */
export class TokenFetchTelemetry {
  constructor(
    private readonly span: Span | undefined,
    private readonly connectorType: string,
    /** The token request's span in the run's context: its HTTP request is dispatched under it. */
    readonly context: Context | undefined,
  ) {}

  ended(error?: unknown): void {
    const failure = error === undefined ? undefined : errorType(error);
    currentInstruments()?.tokenFetches.add(1, {
      "flowrun.connector.type": this.connectorType,
      "flowrun.token.outcome": failure === undefined ? "success" : "error",
    });
    if (!this.span) return;
    if (failure !== undefined && this.span.isRecording()) endWithError(this.span, failure);
    this.span.end();
  }
}

/** Starts a token request's telemetry; the span only inside a traced run (`run` carries its context). */
export function startTokenFetch(run: RunTelemetry | undefined, start: TokenFetchStart): TokenFetchTelemetry {
  const span = run?.tracer?.startSpan("flowrun.token.fetch", { kind: SPAN_KIND_INTERNAL }, run.context);
  if (span?.isRecording()) {
    span.setAttributes({
      "flowrun.connector.id": start.connectorId,
      "flowrun.connector.type": start.connectorType,
      "flowrun.token.grant": start.grant,
      [ATTR_SERVER_ADDRESS]: hostnameOf(start.tokenUrl),
    });
  }
  const context = span && run && api ? api.trace.setSpan(run.context, span) : run?.context;
  return new TokenFetchTelemetry(span, start.connectorType, context);
}

function hostnameOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

/** Counts an authorisation served from the token cache (`fetched` false) or one that waited for a token request. */
export function countTokenUse(connectorType: string, fetched: boolean): void {
  if (!(API_GLOBALS in globalThis)) return;
  const instruments = currentInstruments();
  if (!instruments) return;
  const counter = fetched ? instruments.tokenCacheMisses : instruments.tokenCacheHits;
  counter.add(1, { "flowrun.connector.type": connectorType });
}

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/, version 00) headers for an outbound request: the
 * attempt's span when there is one, else the run's parent (the host's span), else the active context. Written
 * here rather than through `propagation.inject`, whose global propagator is a no-op unless the host registers
 * one: a connector that opts in gets `traceparent` from the API alone.
 */
export function traceContextHeaders(
  attempt: HttpAttemptTelemetry | undefined,
  run: RunTelemetry | undefined,
): { traceparent: string; tracestate?: string } | undefined {
  if (!api) return undefined;
  const spanContext: SpanContext | undefined =
    attempt?.span?.spanContext() ?? api.trace.getSpanContext(run?.context ?? api.context.active());
  if (!spanContext || !api.isSpanContextValid(spanContext)) return undefined;
  // Version 00 defines one flag, sampled; the other bits are sent as zero.
  const flags = (spanContext.traceFlags & 1) === 1 ? "01" : "00";
  const traceparent = `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
  const tracestate = spanContext.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

/**
 * The context an HTTP request of flowrun is dispatched in: its parent (the attempt's or token request's span, else
 * the context active now) with tracing suppressed, so that an HTTP instrumentation the host registered (undici's)
 * neither adds a second CLIENT span nor injects `traceparent` into a request whose connector did not opt in.
 * Undefined, at the cost of one lookup, while no host has registered anything with the API.
 */
export function dispatchContext(parent: Context | undefined): Context | undefined {
  if (!api || !SUPPRESS_TRACING || (parent === undefined && !(API_GLOBALS in globalThis))) return undefined;
  return (parent ?? api.context.active()).setValue(SUPPRESS_TRACING, true);
}

export type { Context };

/** Calls `fn` with `context` active (through the host's context manager), or just calls it without one. */
export function withinContext<T>(context: Context | undefined, fn: () => T): T {
  return context === undefined || !api ? fn() : api.context.with(context, fn);
}

/** Server attributes per origin: an origin is parsed once, not at the end of every request. */
const serverAttributesByOrigin = new Map<string, Readonly<Attributes>>();
const MAX_CACHED_ORIGINS = 256;

function serverAttributes(origin: string): Readonly<Attributes> {
  let attributes = serverAttributesByOrigin.get(origin);
  if (attributes === undefined) {
    const url = new URL(origin);
    const scheme = url.protocol.slice(0, -1);
    attributes = {
      [ATTR_SERVER_ADDRESS]: url.hostname,
      [ATTR_SERVER_PORT]: url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port),
      [ATTR_URL_SCHEME]: scheme,
    };
    // Flow-authored URLs may name many origins: the cache starts over rather than grow without bound.
    if (serverAttributesByOrigin.size >= MAX_CACHED_ORIGINS) serverAttributesByOrigin.clear();
    serverAttributesByOrigin.set(origin, attributes);
  }
  return attributes;
}

/** One request's `http.client.request.duration`, measured from dispatch to the end of its body or its failure. */
export class HttpClientMeasure {
  readonly #start = performance.now();
  constructor(
    private readonly histogram: Histogram,
    private readonly method: string,
    private readonly origin: string,
  ) {}

  /** `status` when a response arrived; else `error` (a failure without one). */
  ended(status: number | undefined, error?: unknown): void {
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: this.method,
      ...serverAttributes(this.origin),
    };
    if (status !== undefined && status !== 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
    if (error !== undefined) attributes[ATTR_ERROR_TYPE] = errorType(error);
    else if (status !== undefined && status >= 400) attributes[ATTR_ERROR_TYPE] = String(status);
    this.histogram.record((performance.now() - this.#start) / 1000, attributes);
  }
}

/** Starts measuring one HTTP request; undefined while no meter provider is registered. */
export function measureHttpClientRequest(method: string, origin: string): HttpClientMeasure | undefined {
  if (!(API_GLOBALS in globalThis)) return undefined;
  const instruments = currentInstruments();
  return instruments && new HttpClientMeasure(instruments.httpClientDuration, method, origin);
}
