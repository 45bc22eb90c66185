import type { Dispatcher } from "undici";
import type { Authorization, ConnectorHandle } from "../../core/connector-seam.js";
import { EgressDeniedError } from "../../core/egress-rules.js";
import { type FixableCause, FlowrunError, fixableCauseOf } from "../../core/errors.js";
import type { HttpMethod } from "../../core/http-types.js";
import { isSecretName, redactHeaders, redactUrl, scrubSecrets } from "../../core/redact.js";
import { checkSendableUrl, InvalidRequestError, joinToBase, parseAbsoluteUrl } from "../../core/url-rules.js";
import type { RunContext, StepResult } from "../../engine/activity.js";
import type { CompiledTemplate } from "../../engine/expressions.js";
import { applyParseSettings, type CompiledParseSetting } from "../../engine/parse-settings.js";
import { backoffMs, isIdempotent, isRetryableStatus, retryAfterMs, sleep } from "../../http/retry.js";
import { AttemptError, type HttpResponse, sendAttempt } from "../../http/sender.js";
import { appendQuery, type CompiledBody, type ContentType } from "./request-building.js";

/** The `error.kind` values of the http-request activity (SPEC 3). */
export type HttpErrorKind =
  | "timeout"
  | "network"
  | "http-status"
  | "parse"
  | "auth"
  | "method-not-allowed"
  | "invalid-request"
  | "response-too-large"
  | "egress-denied";

export interface CompiledHttpRequest {
  readonly authenticated: boolean;
  readonly connector: string | undefined;
  /** `requestPath` (authenticated) or `requestUrl` (unauthenticated). */
  readonly target: CompiledTemplate;
  readonly method: HttpMethod;
  readonly query: readonly [string, CompiledTemplate][];
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

/**
 * What the connector's credential step did for an activity (absent without a connector):
 * `not-requested` the activity ended before asking (invalid request, method not allowed); `basic` fixed
 * credentials, no token; `cached` a cached token; `fetched` a token from the token endpoint; `refreshed` the API
 * rejected the token as expired and a new one was fetched; `failed` no credentials (the error says why: a secret,
 * the token endpoint, ...); `timeout` the deadline passed while waiting for a token.
 */
export type CredentialState =
  | "not-requested"
  | "basic"
  | "cached"
  | "fetched"
  | "refreshed"
  | "failed"
  | "timeout";

/** The `http` trace detail: the request as sent, secrets redacted. */
export interface HttpTraceDetails {
  method: HttpMethod;
  url: string | null;
  status: number | null;
  requestHeaders: Record<string, string>;
  attempts: number;
  tokenFetched?: boolean;
  /** The connector's credential step (authenticated endpoints only). */
  credentials?: CredentialState;
  /** A cause of the failure the person running the flow can fix (an unset secret variable, ...). */
  cause?: FixableCause;
}

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

/** The credential step's trace word for an authorisation that succeeded. */
function credentialState(authorization: Authorization, refreshing: boolean): CredentialState {
  if (authorization.tokenless) return "basic";
  if (refreshing) return "refreshed";
  return authorization.tokenFetched ? "fetched" : "cached";
}

/** Joined and checked URLs by base, path and loopback rule: the checks are pure, and most paths are constant. */
const joinedUrls = new Map<string, string>();
const JOINED_URLS_KEPT = 1024;

/** The connector's base URL joined with a rendered `requestPath`, every origin rule checked (SPEC 3). */
function checkedJoin(
  connectorName: string,
  base: string,
  target: string,
  allowLoopbackHttp: boolean,
): string {
  const key = `${allowLoopbackHttp ? 1 : 0}\u0000${base}\u0000${target}`;
  const known = joinedUrls.get(key);
  if (known !== undefined) return known;
  let baseUrl: URL;
  try {
    baseUrl = new URL(base);
  } catch {
    throw new InvalidRequestError(`connector "${connectorName}" has an invalid base URL`);
  }
  checkSendableUrl(baseUrl, allowLoopbackHttp, `the base URL of connector "${connectorName}"`);
  const joined = joinToBase(baseUrl, target).href;
  if (joinedUrls.size >= JOINED_URLS_KEPT) joinedUrls.clear();
  joinedUrls.set(key, joined);
  return joined;
}

/** The halt a missing or inactive connector causes (SPEC 3: routing stops), or the connector to use. */
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
export async function executeHttpRequest(request: ResolvedHttpRequest, ctx: RunContext): Promise<StepResult> {
  const found = connectorOrHalt(request.compiled, ctx);
  if ("halt" in found) return found.halt;
  return new HttpExchange(request, ctx, found.connector).perform();
}

/** One http-request activity's exchange: its deadline, the secrets to keep out of messages, the trace. */
class HttpExchange {
  private readonly started = performance.now();
  private readonly compiled: CompiledHttpRequest;
  private readonly method: HttpMethod;
  private readonly trace: HttpTraceDetails;
  private readonly secrets = new Set<string>();
  private readonly connectorHeaderNames = new Set<string>();
  private response: HttpResponse | undefined;
  private json: unknown;
  private readonly controller = new AbortController();
  private deadline = 0;

  constructor(
    private readonly request: ResolvedHttpRequest,
    private readonly ctx: RunContext,
    private readonly connector: ConnectorHandle | undefined,
  ) {
    this.compiled = request.compiled;
    this.method = request.compiled.method;
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

  private fail(kind: HttpErrorKind, message: string, cause?: FixableCause): StepResult {
    if (cause) this.trace.cause = cause;
    const error = { kind, message: scrubSecrets(message, this.secrets) };
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
    for (const [name, value] of Object.entries(request.headers))
      if (isSecretName(name)) this.secrets.add(value);
    for (const [name, value] of request.query) if (isSecretName(name)) this.secrets.add(value);

    // One deadline for the whole activity (token fetch, every attempt, every wait), also ended by a run abort.
    const runSignal = this.ctx.signal;
    this.deadline = this.started + this.compiled.timeoutMs;
    const timer = setTimeout(
      () => this.controller.abort(new DOMException("activity deadline passed", "TimeoutError")),
      this.compiled.timeoutMs,
    );
    const onRunAbort = () => this.controller.abort(runSignal?.reason);
    runSignal?.addEventListener("abort", onRunAbort, { once: true });
    if (runSignal?.aborted) onRunAbort();
    try {
      const failed = await this.exchange();
      if (failed) return failed;
    } catch (error) {
      if (error instanceof HttpActivityError) return this.fail(error.code, error.message);
      if (error instanceof InvalidRequestError)
        return this.fail("invalid-request", error.message, error.fixable);
      if (this.controller.signal.aborted || isAbortLike(error))
        return this.fail(
          "timeout",
          `no usable response within the deadline of ${this.compiled.timeoutMs} ms`,
        );
      throw error;
    } finally {
      clearTimeout(timer);
      runSignal?.removeEventListener("abort", onRunAbort);
    }
    return this.answer(this.response!);
  }

  private async authorize(handle: ConnectorHandle, refreshing: boolean): Promise<Authorization> {
    const { dispatcher } = this.ctx.services.http;
    const signal = this.controller.signal;
    let authorization: Authorization;
    try {
      authorization = await handle.authorize({ dispatcher, signal, deadline: this.deadline });
    } catch (error) {
      if (error instanceof EgressDeniedError) {
        this.trace.credentials = "failed";
        throw new HttpActivityError("egress-denied", `connector "${handle.name}": ${error.message}`);
      }
      if (signal.aborted || isAbortLike(error)) {
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
    this.trace.credentials = credentialState(authorization, refreshing);
    for (const [name, value] of Object.entries(authorization.headers)) {
      this.connectorHeaderNames.add(name.toLowerCase());
      this.secrets.add(value);
      // "Basic abc=" / "Bearer xyz": the credential alone is a secret too.
      const credential = value.split(" ").slice(1).join(" ");
      if (credential) this.secrets.add(credential);
    }
    return authorization;
  }

  private buildUrl(authorization: Authorization | undefined): URL {
    const { request, connector } = this;
    const { allowLoopbackHttp } = this.ctx.services.http;
    if (!connector) return appendQuery(parseAbsoluteUrl(request.target, allowLoopbackHttp), request.query);
    const base = authorization?.baseUrl ?? connector.baseUrl;
    if (base === undefined) throw new InvalidRequestError(`connector "${connector.name}" has no base URL`);
    return appendQuery(
      new URL(checkedJoin(connector.name, base, request.target, allowLoopbackHttp)),
      request.query,
    );
  }

  private buildHeaders(authorization: Authorization | undefined): Record<string, string> {
    const headers: Record<string, string> = { ...this.request.headers };
    if (this.request.body !== undefined) headers["content-type"] = this.compiled.contentType;
    for (const [name, value] of Object.entries(authorization?.headers ?? {}))
      headers[name.toLowerCase()] = value;
    return headers;
  }

  /** The attempt loop: retries, one reactive token refresh. Returns a failure, or undefined with `response` set. */
  private async exchange(): Promise<StepResult | undefined> {
    const { connector, method, trace, compiled } = this;
    const signal = this.controller.signal;
    let authorization = connector ? await this.authorize(connector, false) : undefined;
    let refreshed = false;
    let retriesUsed = 0;
    for (;;) {
      const url = this.buildUrl(authorization);
      const headers = this.buildHeaders(authorization);
      trace.url = redactUrl(url);
      trace.requestHeaders = redactHeaders(headers, this.connectorHeaderNames);
      trace.attempts++;
      const retriesLeft = compiled.retries - retriesUsed;
      const mayRetryFailure = isIdempotent(method) && retriesLeft > 0;
      try {
        this.response = await this.send(url, headers, mayRetryFailure ? retriesLeft : undefined);
      } catch (error) {
        if (!(error instanceof AttemptError)) throw error;
        // An earlier attempt's response (a 503 before a reset) must not pose as this attempt's answer.
        this.response = undefined;
        this.json = undefined;
        trace.status = null;
        if (error.code === "aborted") return this.fail("timeout", "the run was aborted");
        // The egress policy refuses before a connection exists: this attempt sent nothing.
        if (error.code === "egress-denied") trace.attempts--;
        const transient = error.code === "network" || error.code === "timeout";
        if (transient && mayRetryFailure && !signal.aborted) {
          retriesUsed++;
          await sleep(
            Math.min(backoffMs(retriesUsed), Math.max(0, this.deadline - performance.now() - 1)),
            signal,
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
        const wait = retryAfterMs(response.headers["retry-after"]) ?? backoffMs(retriesUsed + 1);
        // A wait that cannot end before the deadline is not started: the status is the answer.
        if (performance.now() + wait < this.deadline) {
          retriesUsed++;
          await sleep(wait, signal);
          continue;
        }
      }
      return undefined;
    }
  }

  /** One attempt; one that may be retried gets its share of the remaining time, so that a retry can happen. */
  private send(
    url: URL,
    headers: Record<string, string>,
    retriesLeft: number | undefined,
  ): Promise<HttpResponse> {
    const { dispatcher, flowUrlDispatcher, maxResponseBytes } = this.ctx.services.http;
    return sendWithBudget({
      url,
      method: this.method,
      headers,
      body: this.request.body,
      dispatcher: this.connector ? dispatcher : flowUrlDispatcher,
      maxResponseBytes,
      signal: this.controller.signal,
      runAborted: () => this.ctx.signal?.aborted === true,
      budgetMs:
        retriesLeft === undefined ? undefined : (this.deadline - performance.now()) / (retriesLeft + 1),
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
    const applied = applyParseSettings(this.compiled.parseSettings, this.json, this.ctx);
    if ("error" in applied) return this.fail("parse", applied.error);
    return {
      outcome: "success",
      outputs: this.outputs(),
      details: { http: trace, assignments: applied.assignments },
    };
  }
}

interface BudgetedAttempt {
  url: URL;
  method: HttpMethod;
  headers: Record<string, string>;
  body: string | undefined;
  dispatcher: Dispatcher;
  maxResponseBytes: number;
  signal: AbortSignal;
  runAborted: () => boolean;
  budgetMs: number | undefined;
}

/** Sends one attempt, bounded by the activity signal and, when given, by its own shorter budget. */
async function sendWithBudget(attempt: BudgetedAttempt): Promise<HttpResponse> {
  if (attempt.budgetMs === undefined) return sendAttempt(attempt);
  const controller = new AbortController();
  const onAbort = () => controller.abort(attempt.signal.reason);
  attempt.signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new DOMException("attempt budget passed", "TimeoutError")),
    Math.max(1, attempt.budgetMs),
  );
  try {
    return await sendAttempt({ ...attempt, signal: controller.signal });
  } finally {
    clearTimeout(timer);
    attempt.signal.removeEventListener("abort", onAbort);
  }
}
