import { Budget, isAbortError } from "../../core/budget.js";
import type { Authorization, ConnectorHandle } from "../../core/connector-seam.js";
import type { FixableCause } from "../../core/errors.js";
import type { HttpMethod } from "../../core/http-types.js";
import { LimitExceededError } from "../../core/limits.js";
import { credentialSecrets, isSecretName, scrubSecrets } from "../../core/redact.js";
import type { Context } from "../../core/telemetry.js";
import { InvalidRequestError } from "../../core/url-rules.js";
import type { RunContext, StepResult } from "../../engine/activity.js";
import type { CompiledTemplate } from "../../engine/expressions.js";
import { applyParseSettings, type CompiledParseSetting } from "../../engine/parse-settings.js";
import type { CredentialState, HttpTrace } from "../../engine/result.js";
import {
  API_RETRY_POLICY,
  type AttemptOutcome,
  isIdempotent,
  isRetryableStatus,
  type RetryLoop,
  type RetryPolicy,
  type RetryVerdict,
  retrying,
} from "../../http/retry.js";
import { AttemptError, type HttpResponse, sendAttempt } from "../../http/sender.js";
import { bodyExcerpt, type HttpErrorKind, HttpRequestError } from "./activity-error.js";
import { attemptHeaders, parseJsonBody, startAttemptSpan } from "./attempt-record.js";
import { authorizeAttempt, connectorOrHalt } from "./authorisation.js";
import type { CompiledBody, ContentType } from "./request-building.js";
import { connectorRequestUrl, flowRequestUrl, type RequestUrl } from "./url-cache.js";

export type { HttpErrorKind } from "./activity-error.js";
/** The trace detail this activity reports (declared with the other trace entries in src/engine/result.ts). */
export type { CredentialState, HttpTrace };

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

/** Performs a resolved http-request: connector checks, authorisation, attempts, retries, parse settings. */
export function executeHttpRequest(
  request: ResolvedHttpRequest,
  ctx: RunContext,
): StepResult | Promise<StepResult> {
  const found = connectorOrHalt(request.compiled.authenticated, request.compiled.connector, ctx);
  if ("halt" in found) return found.halt;
  return new HttpExchange(request, ctx, found.connector).perform();
}

/** Every send of the exchange reports a firing run signal as the run's abort (deadlines have timers of their own). */
const RUN_ABORTED = () => true;

/** The API retry policy for each `retries` setting (0-3), built once rather than per activity. */
const API_POLICIES: readonly RetryPolicy[] = [0, 1, 2, 3].map((retries) => ({
  ...API_RETRY_POLICY,
  retries,
}));
const FINAL: RetryVerdict = { verdict: "final" };
const RETRY: RetryVerdict = { verdict: "retry" };
const REFRESH: RetryVerdict = { verdict: "refresh" };

/**
 * One http-request activity's exchange: its budget (one deadline for the token fetch, every attempt and every
 * wait, also ended by the run's abort), the classification of each attempt for the one retry loop, the secrets to
 * keep out of messages, the trace.
 */
class HttpExchange implements RetryLoop<HttpResponse> {
  private readonly started = performance.now();
  private readonly compiled: CompiledHttpRequest;
  private readonly method: HttpMethod;
  private readonly trace: HttpTrace;
  readonly budget: Budget;
  readonly policy: RetryPolicy;
  /** Every authorisation used, for the secrets to scrub from a failure's message (gathered only on failure). */
  private readonly authorizations: Authorization[] = [];
  private authorization: Authorization | undefined;
  /** Whether the one reactive refresh was made, and whether its token was rejected too. */
  private refreshed = false;
  private refreshedTokenRejected = false;
  private response: HttpResponse | undefined;
  private json: unknown;

  constructor(
    private readonly request: ResolvedHttpRequest,
    private readonly ctx: RunContext,
    private readonly connector: ConnectorHandle | undefined,
  ) {
    this.compiled = request.compiled;
    this.method = request.compiled.method;
    this.budget = new Budget(this.started + this.compiled.timeoutMs, {
      signal: ctx.signal,
      clock: ctx.services.http.retryClock,
      expiredMessage: "activity deadline passed",
    });
    this.policy = API_POLICIES[this.compiled.retries] ?? {
      ...API_RETRY_POLICY,
      retries: this.compiled.retries,
    };
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

  /** Removes every secret the exchange or the engine knows. */
  private scrub(text: string): string {
    return this.ctx.services.scrubber.scrubText(scrubSecrets(text, this.secrets()));
  }

  /**
   * The failure as the activity's error, its message scrubbed. Only a refused status keeps a body excerpt: the
   * whole body is scrubbed first (a secret cut in half by the excerpt would escape), which only a failure pays.
   */
  private failure(kind: HttpErrorKind, message: string): HttpRequestError {
    const { response, trace } = this;
    const excerpt =
      kind === "http-status" && response !== undefined
        ? bodyExcerpt(response.body, (text) => this.scrub(text))
        : undefined;
    return new HttpRequestError(kind, scrubSecrets(message, this.secrets()), {
      status: response?.status,
      url: trace.url ?? undefined,
      bodyExcerpt: excerpt,
    });
  }

  private fail(kind: HttpErrorKind, message: string, cause?: FixableCause): StepResult {
    if (cause) this.trace.cause = cause;
    const failure = this.failure(kind, message);
    if (failure.bodyExcerpt !== undefined) this.trace.responseExcerpt = failure.bodyExcerpt;
    const error = { kind: failure.code, message: failure.message };
    return {
      outcome: kind === "timeout" ? "timeout" : "error",
      error,
      outputs: { ...this.outputs(), error },
      details: { http: this.trace },
    };
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
    try {
      const failed = await this.exchange();
      if (failed) return failed;
    } catch (error) {
      if (error instanceof HttpRequestError) return this.fail(error.code, error.message);
      if (error instanceof InvalidRequestError)
        return this.fail("invalid-request", error.message, error.fixable);
      if (this.budget.expired || isAbortError(error))
        return this.fail(
          "timeout",
          `no usable response within the deadline of ${this.compiled.timeoutMs} ms`,
        );
      throw error;
    } finally {
      this.budget.release();
    }
    return this.answer(this.response!);
  }

  private async authorize(handle: ConnectorHandle, refreshing: boolean): Promise<Authorization> {
    const authorization = await authorizeAttempt(handle, refreshing, this.ctx, this.budget, this.trace);
    this.authorizations.push(authorization);
    this.authorization = authorization;
    return authorization;
  }

  /**
   * The one retry loop over this exchange's attempts (the exchange is the loop's description itself: no closures
   * per activity). Returns a failure, or undefined with `response` set.
   */
  private async exchange(): Promise<StepResult | undefined> {
    const { connector, method, trace } = this;
    if (connector) await this.authorize(connector, false);
    const outcome = await retrying<HttpResponse>(this);
    if (outcome.ok) {
      if (this.refreshedTokenRejected)
        return this.fail(
          "auth",
          `connector "${connector?.name}": the refreshed token was rejected too (status ${outcome.value.status})`,
        );
      return undefined;
    }
    const error = outcome.error;
    if (!(error instanceof AttemptError)) throw error;
    if (error.code === "aborted") return this.fail("timeout", "the run was aborted");
    return this.fail(error.code, `${method} ${trace.url}: ${error.message}`);
  }

  /** The reactive refresh: drop the rejected token, authorise again (once; `classify` decides). */
  async refresh(): Promise<void> {
    this.refreshed = true;
    this.authorization?.invalidate();
    if (this.connector) await this.authorize(this.connector, true);
  }

  /** One attempt, recorded in the trace and its span; `response` and `json` are the attempt's own. */
  async attempt(retriesLeft: number): Promise<HttpResponse> {
    const { trace, authorization } = this;
    const url = this.buildUrl(authorization);
    const headers = attemptHeaders(
      this.request.headers,
      this.request.body === undefined ? undefined : this.compiled.contentType,
      authorization,
      this.ctx,
    );
    trace.url = url.shown;
    const propagate = this.connector?.propagateTraceContext === true;
    const span = startAttemptSpan(this.method, url, headers, trace.attempts, propagate, this.ctx);
    trace.requestHeaders = headers.shown;
    trace.attempts++;
    const shareWithRetries = isIdempotent(this.method) ? retriesLeft : 0;
    try {
      this.response = await this.send(url, headers.sent, shareWithRetries, span?.context);
      span?.answered(this.response.status);
    } catch (error) {
      span?.failed(error);
      // An earlier attempt's response (a 503 before a reset) must not pose as this attempt's answer.
      this.response = undefined;
      this.json = undefined;
      trace.status = null;
      // The egress policy refuses before a connection exists: this attempt sent nothing.
      if (error instanceof AttemptError && error.code === "egress-denied") trace.attempts--;
      throw error;
    }
    trace.status = this.response.status;
    this.json = parseJsonBody(this.response.body);
    return this.response;
  }

  /**
   * The exchange's part of the retry policy. A failed send is retried only when it is transient (network error,
   * timeout), the method idempotent (the first attempt may have reached the server) and the budget not ended. A
   * response saying the token expired gets one refresh; a retryable status is retried for every method.
   */
  classify(outcome: AttemptOutcome<HttpResponse>): RetryVerdict {
    if (!outcome.ok) {
      const { error } = outcome;
      const transient =
        error instanceof AttemptError && (error.code === "network" || error.code === "timeout");
      return transient && isIdempotent(this.method) && !this.budget.expired ? RETRY : FINAL;
    }
    const response = outcome.value;
    const { connector, authorization } = this;
    if (
      connector &&
      authorization &&
      connector.tokenExpired({ status: response.status, json: this.json ?? null })
    ) {
      if (!this.refreshed) return REFRESH;
      this.refreshedTokenRejected = true;
      return FINAL;
    }
    if (isRetryableStatus(response.status))
      return { verdict: "retry", retryAfter: response.headers["retry-after"] };
    return FINAL;
  }

  private buildUrl(authorization: Authorization | undefined): RequestUrl {
    const { request, connector, compiled } = this;
    const http = this.ctx.services.http;
    if (!connector) return flowRequestUrl(request.target, request.query, compiled.secretQuery, http);
    const base = authorization?.baseUrl ?? connector.baseUrl;
    return connectorRequestUrl(
      connector.name,
      base,
      request.target,
      request.query,
      compiled.secretQuery,
      http,
    );
  }

  /**
   * One attempt's send, ended by the activity deadline or the run's abort; one that may be retried gets its share
   * of the remaining time, so that a retry can happen.
   */
  private send(
    url: RequestUrl,
    headers: Record<string, string>,
    retriesLeft: number,
    traceContext: Context | undefined,
  ): Promise<HttpResponse> {
    const { dispatcher, flowUrlDispatcher, maxResponseBytes } = this.ctx.services.http;
    const { deadline } = this.budget;
    const now = performance.now();
    return sendAttempt({
      url,
      method: this.method,
      headers,
      body: this.request.body,
      dispatcher: this.connector ? (this.authorizations.at(-1)?.dispatcher ?? dispatcher) : flowUrlDispatcher,
      maxResponseBytes,
      deadline: retriesLeft === 0 ? deadline : now + (deadline - now) / (retriesLeft + 1),
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
