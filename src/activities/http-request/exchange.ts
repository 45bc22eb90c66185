import type { Authorization, AuthorizeRequest, ConnectorHandle } from "../../core/connector-seam.js";
import { EgressDeniedError } from "../../core/egress-rules.js";
import { type FixableCause, FlowrunError, fixableCauseOf } from "../../core/errors.js";
import type { HttpMethod, HttpServices } from "../../core/http-types.js";
import { LimitExceededError } from "../../core/limits.js";
import {
  credentialSecrets,
  encodeQuery,
  isSecretName,
  REDACTED,
  redactUrl,
  scrubSecrets,
} from "../../core/redact.js";
import { type Context, type HttpAttemptTelemetry, traceContextHeaders } from "../../core/telemetry.js";
import { checkSendableUrl, InvalidRequestError, joinToBase, parseAbsoluteUrl } from "../../core/url-rules.js";
import type { RunContext, StepResult } from "../../engine/activity.js";
import type { CompiledTemplate } from "../../engine/expressions.js";
import { applyParseSettings, type CompiledParseSetting } from "../../engine/parse-settings.js";
import {
  API_RETRY_POLICY,
  backoffMs,
  canWaitBeforeDeadline,
  isIdempotent,
  isRetryableStatus,
  realClock,
  retryDelayMs,
} from "../../http/retry.js";
import { AttemptError, type HttpResponse, sendAttempt } from "../../http/sender.js";
import { appendQuery, type CompiledBody, type ContentType } from "./request-building.js";

/** The `error.kind` values of the http-request activity. */
export type HttpErrorKind =
  | "timeout"
  | "network"
  | "http-status"
  | "parse"
  | "auth"
  | "method-not-allowed"
  | "invalid-request"
  | "response-too-large"
  | "egress-denied"
  /** A limit on what the flow's author wrote (a JSON path's steps, the response's depth): src/core/limits.ts. */
  | "limit-exceeded";

export interface CompiledHttpRequest {
  readonly authenticated: boolean;
  readonly connector: string | undefined;
  /** `requestPath` (authenticated) or `requestUrl` (unauthenticated). */
  readonly target: CompiledTemplate;
  readonly method: HttpMethod;
  readonly query: readonly [string, CompiledTemplate][];
  /** Whether a query parameter has a secret-looking name (its value is redacted in the trace). */
  readonly secretQuery: boolean;
  readonly headers: readonly [string, CompiledTemplate][];
  readonly contentType: ContentType;
  readonly body: CompiledBody;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly parseSettings: readonly CompiledParseSetting[];
}

/** The request a run is about to send, rendered; `invalid` says why it cannot be sent. */
export interface ResolvedHttpRequest {
  readonly compiled: CompiledHttpRequest;
  readonly target: string;
  readonly query: URLSearchParams;
  /** Lower-cased names, values checked for CR/LF. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
  readonly invalid?: string;
  /** Why `invalid`, when the person running the flow can fix it (plain http to loopback without the option). */
  readonly invalidCause?: FixableCause;
}

/** The trace detail this activity reports (declared with the other trace entries in src/engine/result.ts). */
import type { CredentialState, HttpTrace } from "../../engine/result.js";

export type { CredentialState, HttpTrace };

class HttpActivityError extends FlowrunError {
  override readonly code: HttpErrorKind;
  constructor(kind: HttpErrorKind, message: string) {
    super(kind, message);
    this.name = "HttpActivityError";
    this.code = kind;
  }
}

/** The body parsed as JSON, or undefined when it is empty or not JSON. */
function parseJsonBody(text: string): unknown {
  // Whitespace-only text fails JSON.parse below, so only the empty string needs a check of its own.
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isAbortLike(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "AbortError" || name === "TimeoutError";
}

/** A checked URL taken apart once: what undici needs (origin, path) and what the trace may show. */
interface UrlParts {
  readonly href: string;
  readonly origin: string;
  readonly pathname: string;
  readonly search: string;
  /** The URL as shown is not simply origin + path: a fragment, or a query parameter with a secret name. */
  readonly needsRedaction: boolean;
}

function urlParts(url: URL): UrlParts {
  let secretInSearch = false;
  if (url.search) for (const name of url.searchParams.keys()) if (isSecretName(name)) secretInSearch = true;
  return {
    href: url.href,
    origin: url.origin,
    pathname: url.pathname,
    search: url.search,
    needsRedaction: secretInSearch || url.hash !== "" || url.href.includes("%5BREDACTED%5D"),
  };
}

/** The request's destination: origin and path for undici, and the URL for the trace, secrets redacted. */
interface RequestUrl {
  readonly origin: string;
  readonly path: string;
  readonly shown: string;
}

/** The credential step's trace word for an authorisation that succeeded. */
function credentialState(authorization: Authorization, refreshing: boolean): CredentialState {
  if (authorization.tokenless) return "basic";
  if (refreshing) return "refreshed";
  return authorization.tokenFetched ? "fetched" : "cached";
}

/**
 * Checked URLs by base and path (connectors) or by the whole URL (flow-authored), one cache per engine (its `http`
 * services): the checks are pure and most paths are constant, and no engine's rules or evictions reach another
 * engine embedded in the same process.
 */
const checkedUrlsByEngine = new WeakMap<HttpServices, Map<string, UrlParts>>();
const CHECKED_URLS_KEPT = 1024;

/** The cached URL for `key`, else `check()`'s (a check that throws caches nothing). */
function checkedOnce(http: HttpServices, key: string, check: () => UrlParts): UrlParts {
  let checked = checkedUrlsByEngine.get(http);
  if (checked === undefined) {
    checked = new Map();
    checkedUrlsByEngine.set(http, checked);
  }
  const known = checked.get(key);
  if (known !== undefined) return known;
  const parts = check();
  if (checked.size >= CHECKED_URLS_KEPT) checked.clear();
  checked.set(key, parts);
  return parts;
}

/** The connector's base URL joined with a rendered `requestPath`, every origin rule checked. */
function checkedJoin(connectorName: string, base: string, target: string, http: HttpServices): UrlParts {
  return checkedOnce(http, `${base}\u0000${target}`, () => {
    let baseUrl: URL;
    try {
      baseUrl = new URL(base);
    } catch {
      throw new InvalidRequestError(`connector "${connectorName}" has an invalid base URL`);
    }
    checkSendableUrl(baseUrl, http.allowLoopbackHttp, `the base URL of connector "${connectorName}"`);
    return urlParts(joinToBase(baseUrl, target));
  });
}

/** A flow-authored `requestUrl`, parsed and checked. */
function checkedFlowUrl(target: string, http: HttpServices): UrlParts {
  // Base URLs are absolute, so "\u0000target" never collides with a "base\u0000path" key.
  return checkedOnce(http, `\u0000${target}`, () =>
    urlParts(parseAbsoluteUrl(target, http.allowLoopbackHttp)),
  );
}

/**
 * The URL with the engine-encoded query appended to whatever query it has. Serialised once: the trace shows the
 * very string sent, unless something in it must be redacted.
 */
function withQuery(parts: UrlParts, query: URLSearchParams, secretQuery: boolean): RequestUrl {
  const encoded = query.size === 0 ? "" : encodeQuery(query);
  const search = encoded === "" ? parts.search : parts.search ? `${parts.search}&${encoded}` : `?${encoded}`;
  const path = `${parts.pathname}${search}`;
  if (!(parts.needsRedaction || secretQuery))
    return { origin: parts.origin, path, shown: `${parts.origin}${path}` };
  return { origin: parts.origin, path, shown: redactUrl(appendQuery(new URL(parts.href), query)) };
}

/** The halt a missing or inactive connector causes (routing stops), or the connector to use. */
function connectorOrHalt(
  compiled: CompiledHttpRequest,
  ctx: RunContext,
): { connector: ConnectorHandle | undefined } | { halt: StepResult } {
  if (!compiled.authenticated) return { connector: undefined };
  const name = compiled.connector ?? "";
  const connector = ctx.services.connectors?.resolve(name);
  if (!connector) {
    return {
      halt: {
        outcome: null,
        halt: {
          reason: "connector-not-found",
          message: `connector "${name}" used by activity "${ctx.activityId}" is not defined; routing stops`,
        },
        details: { connector: name },
      },
    };
  }
  if (connector.status !== "active") {
    return {
      halt: {
        outcome: null,
        halt: {
          reason: "connector-inactive",
          message: `connector "${connector.name}" used by activity "${ctx.activityId}" is inactive; routing stops`,
        },
        details: { connector: connector.name },
      },
    };
  }
  return { connector };
}

/** Performs a resolved http-request: connector checks, authorisation, attempts, retries, parse settings. */
export function executeHttpRequest(
  request: ResolvedHttpRequest,
  ctx: RunContext,
): StepResult | Promise<StepResult> {
  const found = connectorOrHalt(request.compiled, ctx);
  if ("halt" in found) return found.halt;
  return new HttpExchange(request, ctx, found.connector).perform();
}

/** Every send of the exchange reports a firing run signal as the run's abort (deadlines have timers of their own). */
const RUN_ABORTED = () => true;

/** One http-request activity's exchange: its deadline, the secrets to keep out of messages, the trace. */
class HttpExchange {
  private readonly started = performance.now();
  private readonly compiled: CompiledHttpRequest;
  private readonly method: HttpMethod;
  private readonly trace: HttpTrace;
  /** Every authorisation used, for the secrets to scrub from a failure's message (gathered only on failure). */
  private readonly authorizations: Authorization[] = [];
  private response: HttpResponse | undefined;
  private json: unknown;
  private readonly deadline: number;
  /**
   * Ended at the deadline or by the run's abort; made only when the exchange has to wait for something other than
   * a send (a token, a retry's pause): sends have their own deadline timer, and an AbortController costs more
   * than the rest of an activity's bookkeeping.
   */
  private waits:
    | { controller: AbortController; timer: ReturnType<typeof setTimeout>; onRunAbort: () => void }
    | undefined;

  constructor(
    private readonly request: ResolvedHttpRequest,
    private readonly ctx: RunContext,
    private readonly connector: ConnectorHandle | undefined,
  ) {
    this.compiled = request.compiled;
    this.method = request.compiled.method;
    this.deadline = this.started + this.compiled.timeoutMs;
    this.trace = { method: this.method, url: null, status: null, requestHeaders: {}, attempts: 0 };
    if (connector) {
      this.trace.tokenFetched = false;
      this.trace.credentials = "not-requested";
    }
  }

  private outputs(): Record<string, unknown> {
    return {
      statusCode: this.response?.status ?? null,
      headers: this.response?.headers ?? {},
      body: this.response?.body ?? null,
      json: this.json ?? null,
      durationMs: Math.round((performance.now() - this.started) * 1000) / 1000,
    };
  }

  /** The values a failure's message must not show: secret-named headers and query values, every credential. */
  private secrets(): Set<string> {
    const secrets = new Set<string>();
    for (const [name, value] of Object.entries(this.request.headers))
      if (isSecretName(name)) secrets.add(value);
    for (const [name, value] of this.request.query) if (isSecretName(name)) secrets.add(value);
    for (const authorization of this.authorizations)
      for (const value of Object.values(authorization.headers))
        for (const secret of credentialSecrets(value)) secrets.add(secret);
    return secrets;
  }

  private fail(kind: HttpErrorKind, message: string, cause?: FixableCause): StepResult {
    if (cause) this.trace.cause = cause;
    const error = { kind, message: scrubSecrets(message, this.secrets()) };
    return {
      outcome: kind === "timeout" ? "timeout" : "error",
      error,
      outputs: { ...this.outputs(), error },
      details: { http: this.trace },
    };
  }

  /** The signal token waits and retry pauses end on: the activity deadline or the run's abort. */
  private waitSignal(): AbortSignal {
    if (this.waits === undefined) {
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new DOMException("activity deadline passed", "TimeoutError")),
        Math.max(0, this.deadline - performance.now()),
      );
      const runSignal = this.ctx.signal;
      const onRunAbort = () => controller.abort(runSignal?.reason);
      runSignal?.addEventListener("abort", onRunAbort, { once: true });
      if (runSignal?.aborted) onRunAbort();
      this.waits = { controller, timer, onRunAbort };
    }
    return this.waits.controller.signal;
  }

  /** Whether the deadline passed or the run was aborted. */
  private get ended(): boolean {
    return (
      this.waits?.controller.signal.aborted === true ||
      this.ctx.signal?.aborted === true ||
      performance.now() >= this.deadline
    );
  }

  async perform(): Promise<StepResult> {
    const { request, connector, method } = this;
    if (request.invalid !== undefined)
      return this.fail("invalid-request", request.invalid, request.invalidCause);
    if (connector?.allowedMethods && !connector.allowedMethods.includes(method)) {
      return this.fail(
        "method-not-allowed",
        `connector "${connector.name}" allows only ${connector.allowedMethods.join(", ")}; ${method} was not sent`,
      );
    }
    // One deadline for the whole activity (token fetch, every attempt, every wait), also ended by a run abort.
    try {
      const failed = await this.exchange();
      if (failed) return failed;
    } catch (error) {
      if (error instanceof HttpActivityError) return this.fail(error.code, error.message);
      if (error instanceof InvalidRequestError)
        return this.fail("invalid-request", error.message, error.fixable);
      if (this.ended || isAbortLike(error))
        return this.fail(
          "timeout",
          `no usable response within the deadline of ${this.compiled.timeoutMs} ms`,
        );
      throw error;
    } finally {
      if (this.waits !== undefined) {
        clearTimeout(this.waits.timer);
        this.ctx.signal?.removeEventListener("abort", this.waits.onRunAbort);
      }
    }
    return this.answer(this.response!);
  }

  private async authorize(handle: ConnectorHandle, refreshing: boolean): Promise<Authorization> {
    const { dispatcher, retryClock } = this.ctx.services.http;
    const exchange = this;
    let authorization: Authorization;
    try {
      const request: { -readonly [K in keyof AuthorizeRequest]: AuthorizeRequest[K] } = {
        dispatcher,
        deadline: this.deadline,
        // Read only by a caller that has to wait (a token not in the cache): see `waits`.
        get signal() {
          return exchange.waitSignal();
        },
      };
      // Only when there is telemetry or a test's clock: one more property costs every in-flight run ~200 bytes
      // (bench heap figure).
      if (this.ctx.telemetry) request.telemetry = this.ctx.telemetry;
      if (retryClock !== realClock) request.retryClock = retryClock;
      authorization = await handle.authorize(request);
    } catch (error) {
      if (error instanceof EgressDeniedError) {
        this.trace.credentials = "failed";
        throw new HttpActivityError("egress-denied", `connector "${handle.name}": ${error.message}`);
      }
      if (this.ended || isAbortLike(error)) {
        this.trace.credentials = "timeout";
        throw new HttpActivityError(
          "timeout",
          `connector "${handle.name}" was not authorised before the deadline`,
        );
      }
      this.trace.credentials = "failed";
      this.trace.cause = fixableCauseOf(error);
      const message = error instanceof Error ? error.message : String(error);
      throw new HttpActivityError("auth", `connector "${handle.name}": ${message}`);
    }
    if (authorization.tokenFetched) this.trace.tokenFetched = true;
    if (authorization.notes?.length) this.trace.notes = [...(this.trace.notes ?? []), ...authorization.notes];
    this.trace.credentials = credentialState(authorization, refreshing);
    this.authorizations.push(authorization);
    return authorization;
  }

  private buildUrl(authorization: Authorization | undefined): RequestUrl {
    const { request, connector, compiled } = this;
    if (!connector) {
      return withQuery(
        checkedFlowUrl(request.target, this.ctx.services.http),
        request.query,
        compiled.secretQuery,
      );
    }
    const base = authorization?.baseUrl ?? connector.baseUrl;
    if (base === undefined) throw new InvalidRequestError(`connector "${connector.name}" has no base URL`);
    const parts = checkedJoin(connector.name, base, request.target, this.ctx.services.http);
    return withQuery(parts, request.query, compiled.secretQuery);
  }

  /** The attempt's CLIENT span, and W3C trace headers for a connector that opted in (docs/telemetry.md). */
  private startAttempt(
    url: RequestUrl,
    headers: { sent: Record<string, string>; shown: Record<string, string> },
    resendCount: number,
  ): HttpAttemptTelemetry | undefined {
    const attempt = this.ctx.telemetry?.startHttpAttempt({
      method: this.method,
      origin: url.origin,
      // Spans leave the process: a known secret in any query parameter (not only a secret-named one) is removed.
      redactedUrl: this.ctx.services.scrubber.scrubText(url.shown),
      activityId: this.ctx.activityId,
      resendCount,
    });
    if (this.connector?.propagateTraceContext) {
      const traceHeaders = traceContextHeaders(attempt, this.ctx.telemetry);
      Object.assign(headers.sent, traceHeaders);
      Object.assign(headers.shown, traceHeaders);
    }
    return attempt;
  }

  /** The headers sent and, in the same pass, the headers the trace shows (connector headers always redacted). */
  private buildHeaders(authorization: Authorization | undefined): {
    sent: Record<string, string>;
    shown: Record<string, string>;
  } {
    const sent: Record<string, string> = {};
    const shown: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.request.headers)) {
      sent[name] = value;
      shown[name] = isSecretName(name) ? REDACTED : value;
    }
    if (this.request.body !== undefined) {
      sent["content-type"] = this.compiled.contentType;
      shown["content-type"] = this.compiled.contentType;
    }
    if (authorization !== undefined) {
      for (const [name, value] of Object.entries(authorization.headers)) {
        const lower = name.toLowerCase();
        sent[lower] = value;
        shown[lower] = REDACTED;
        this.ctx.services.scrubber.addCredentialHeader(value);
      }
    }
    return { sent, shown };
  }

  /** The attempt loop: retries, one reactive token refresh. Returns a failure, or undefined with `response` set. */
  private async exchange(): Promise<StepResult | undefined> {
    const { connector, method, trace, compiled } = this;
    let authorization = connector ? await this.authorize(connector, false) : undefined;
    let refreshed = false;
    let retriesUsed = 0;
    for (;;) {
      const url = this.buildUrl(authorization);
      const headers = this.buildHeaders(authorization);
      trace.url = url.shown;
      const attempt = this.startAttempt(url, headers, trace.attempts);
      trace.requestHeaders = headers.shown;
      trace.attempts++;
      const retriesLeft = compiled.retries - retriesUsed;
      const mayRetryFailure = isIdempotent(method) && retriesLeft > 0;
      try {
        this.response = await this.send(
          url,
          headers.sent,
          mayRetryFailure ? retriesLeft : 0,
          attempt?.context,
        );
        attempt?.answered(this.response.status);
      } catch (error) {
        attempt?.failed(error);
        if (!(error instanceof AttemptError)) throw error;
        // An earlier attempt's response (a 503 before a reset) must not pose as this attempt's answer.
        this.response = undefined;
        this.json = undefined;
        trace.status = null;
        if (error.code === "aborted") return this.fail("timeout", "the run was aborted");
        // The egress policy refuses before a connection exists: this attempt sent nothing.
        if (error.code === "egress-denied") trace.attempts--;
        const transient = error.code === "network" || error.code === "timeout";
        if (transient && mayRetryFailure && !this.ended) {
          retriesUsed++;
          const { retryClock: clock } = this.ctx.services.http;
          const backoff = backoffMs(API_RETRY_POLICY, retriesUsed, clock);
          await clock.sleep(
            Math.min(backoff, Math.max(0, this.deadline - clock.now() - 1)),
            this.waitSignal(),
          );
          continue;
        }
        return this.fail(error.code, `${method} ${trace.url}: ${error.message}`);
      }
      const response = this.response;
      trace.status = response.status;
      this.json = parseJsonBody(response.body);
      if (
        connector &&
        authorization &&
        connector.tokenExpired({ status: response.status, json: this.json ?? null })
      ) {
        if (refreshed)
          return this.fail(
            "auth",
            `connector "${connector.name}": the refreshed token was rejected too (status ${response.status})`,
          );
        refreshed = true;
        authorization.invalidate();
        authorization = await this.authorize(connector, true);
        continue;
      }
      if (isRetryableStatus(response.status) && retriesUsed < compiled.retries) {
        const { retryClock: clock } = this.ctx.services.http;
        const wait = retryDelayMs(API_RETRY_POLICY, retriesUsed + 1, response.headers["retry-after"], clock);
        // A wait that cannot end before the deadline is not started: the status is the answer.
        if (canWaitBeforeDeadline(wait, this.deadline, clock)) {
          retriesUsed++;
          await clock.sleep(wait, this.waitSignal());
          continue;
        }
      }
      return undefined;
    }
  }

  /**
   * One attempt, ended by the activity deadline or the run's abort; one that may be retried gets its share of the
   * remaining time, so that a retry can happen.
   */
  private send(
    url: RequestUrl,
    headers: Record<string, string>,
    retriesLeft: number,
    traceContext: Context | undefined,
  ): Promise<HttpResponse> {
    const { dispatcher, flowUrlDispatcher, maxResponseBytes } = this.ctx.services.http;
    const now = performance.now();
    return sendAttempt({
      url,
      method: this.method,
      headers,
      body: this.request.body,
      dispatcher: this.connector ? (this.authorizations.at(-1)?.dispatcher ?? dispatcher) : flowUrlDispatcher,
      maxResponseBytes,
      deadline: retriesLeft === 0 ? this.deadline : now + (this.deadline - now) / (retriesLeft + 1),
      signal: this.ctx.signal,
      runAborted: RUN_ABORTED,
      traceContext,
    });
  }

  /** The final response as the activity's result: status check, then parse settings. */
  private answer(response: HttpResponse): StepResult {
    const { method, trace } = this;
    const status = response.status;
    if (status < 200 || status > 299) {
      const location =
        status >= 300 && status < 400 && response.headers.location ? " (redirect not followed)" : "";
      return this.fail("http-status", `${method} ${trace.url} answered ${status}${location}`);
    }
    if (this.compiled.parseSettings.length === 0)
      return { outcome: "success", outputs: this.outputs(), details: { http: trace } };
    if (this.json === undefined)
      return this.fail(
        "parse",
        `the response body is not JSON (content-type ${response.headers["content-type"] ?? "none"})`,
      );
    let applied: ReturnType<typeof applyParseSettings>;
    try {
      applied = applyParseSettings(this.compiled.parseSettings, this.json, this.ctx);
    } catch (error) {
      if (error instanceof LimitExceededError) return this.fail("limit-exceeded", error.message);
      throw error;
    }
    if ("error" in applied) return this.fail("parse", applied.error);
    return {
      outcome: "success",
      outputs: this.outputs(),
      details: { http: trace, assignments: applied.assignments, unmatchedPaths: applied.unmatchedPaths },
    };
  }
}
