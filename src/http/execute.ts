import type { Dispatcher } from "undici";
import type { Authorization, ConnectorHandle, HttpMethod } from "../connectors/seam.js";
import type { RunContext, StepResult } from "../engine/activity.js";
import { type FixableCause, FlowrunError, fixableCauseOf } from "../engine/errors.js";
import type { CompiledTemplate } from "../engine/expressions.js";
import { applyParseSettings, type CompiledParseSetting } from "../engine/parse-settings.js";
import { checkSendableUrl, InvalidRequestError, joinToBase, parseAbsoluteUrl } from "./origin-guard.js";
import { isSecretName, redactHeaders, redactUrl, scrubSecrets } from "./redact.js";
import { appendQuery, type CompiledBody, type ContentType } from "./request-builder.js";
import { backoffMs, isIdempotent, isRetryableStatus, retryAfterMs, sleep } from "./retry.js";
import { AttemptError, type HttpResponse, sendAttempt } from "./transport.js";

/** The `error.kind` values of the http-request activity (SPEC 3). */
export type HttpErrorKind =
  | "timeout"
  | "network"
  | "http-status"
  | "parse"
  | "auth"
  | "method-not-allowed"
  | "invalid-request"
  | "response-too-large";

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

/** Performs a resolved http-request: connector checks, authorisation, attempts, retries, parse settings. */
export async function executeHttpRequest(request: ResolvedHttpRequest, ctx: RunContext): Promise<StepResult> {
  const { compiled } = request;
  const started = performance.now();
  const method = compiled.method;

  let connector: ConnectorHandle | undefined;
  if (compiled.authenticated) {
    const name = compiled.connector ?? "";
    connector = ctx.services.connectors?.resolve(name);
    if (!connector) {
      return {
        outcome: null,
        halt: {
          reason: "connector-not-found",
          message: `connector "${name}" used by activity "${ctx.activityId}" is not defined; routing stops`,
        },
        details: { connector: name },
      };
    }
    if (connector.status !== "active") {
      return {
        outcome: null,
        halt: {
          reason: "connector-inactive",
          message: `connector "${connector.name}" used by activity "${ctx.activityId}" is inactive; routing stops`,
        },
        details: { connector: connector.name },
      };
    }
  }

  const trace: HttpTraceDetails = { method, url: null, status: null, requestHeaders: {}, attempts: 0 };
  if (connector) {
    trace.tokenFetched = false;
    trace.credentials = "not-requested";
  }
  const secrets = new Set<string>();
  const connectorHeaderNames = new Set<string>();
  let response: HttpResponse | undefined;
  let json: unknown;

  const outputs = (): Record<string, unknown> => ({
    statusCode: response?.status ?? null,
    headers: response?.headers ?? {},
    body: response?.body ?? null,
    json: json ?? null,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
  });
  const fail = (kind: HttpErrorKind, message: string, cause?: FixableCause): StepResult => {
    if (cause) trace.cause = cause;
    const error = { kind, message: scrubSecrets(message, secrets) };
    return {
      outcome: kind === "timeout" ? "timeout" : "error",
      error,
      outputs: { ...outputs(), error },
      details: { http: trace },
    };
  };

  if (request.invalid !== undefined) return fail("invalid-request", request.invalid, request.invalidCause);
  if (connector?.allowedMethods && !connector.allowedMethods.includes(method)) {
    return fail(
      "method-not-allowed",
      `connector "${connector.name}" allows only ${connector.allowedMethods.join(", ")}; ${method} was not sent`,
    );
  }
  for (const [name, value] of Object.entries(request.headers)) if (isSecretName(name)) secrets.add(value);
  for (const [name, value] of request.query) if (isSecretName(name)) secrets.add(value);

  // One deadline for the whole activity (token fetch, every attempt, every wait), also ended by a run abort.
  const deadline = started + compiled.timeoutMs;
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException("activity deadline passed", "TimeoutError")),
    compiled.timeoutMs,
  );
  const onRunAbort = () => controller.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener("abort", onRunAbort, { once: true });
  if (ctx.signal?.aborted) onRunAbort();
  const signal = controller.signal;
  const runAborted = () => ctx.signal?.aborted === true;
  const { dispatcher, maxResponseBytes, allowLoopbackHttp } = ctx.services.http;

  const authorize = async (handle: ConnectorHandle, refreshing: boolean): Promise<Authorization> => {
    let authorization: Authorization;
    try {
      authorization = await handle.authorize({ dispatcher, signal, deadline });
    } catch (error) {
      if (signal.aborted || isAbortLike(error)) {
        trace.credentials = "timeout";
        throw new HttpActivityError(
          "timeout",
          `connector "${handle.name}" was not authorised before the deadline`,
        );
      }
      trace.credentials = "failed";
      trace.cause = fixableCauseOf(error);
      const message = error instanceof Error ? error.message : String(error);
      throw new HttpActivityError("auth", `connector "${handle.name}": ${message}`);
    }
    if (authorization.tokenFetched) trace.tokenFetched = true;
    trace.credentials = authorization.tokenless
      ? "basic"
      : refreshing
        ? "refreshed"
        : authorization.tokenFetched
          ? "fetched"
          : "cached";
    for (const [name, value] of Object.entries(authorization.headers)) {
      connectorHeaderNames.add(name.toLowerCase());
      secrets.add(value);
      // "Basic abc=" / "Bearer xyz": the credential alone is a secret too.
      const credential = value.split(" ").slice(1).join(" ");
      if (credential) secrets.add(credential);
    }
    return authorization;
  };

  const buildUrl = (authorization: Authorization | undefined): URL => {
    if (!connector) return appendQuery(parseAbsoluteUrl(request.target, allowLoopbackHttp), request.query);
    const base = authorization?.baseUrl ?? connector.baseUrl;
    if (base === undefined) throw new InvalidRequestError(`connector "${connector.name}" has no base URL`);
    return appendQuery(
      new URL(checkedJoin(connector.name, base, request.target, allowLoopbackHttp)),
      request.query,
    );
  };

  const buildHeaders = (authorization: Authorization | undefined): Record<string, string> => {
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers["content-type"] = compiled.contentType;
    for (const [name, value] of Object.entries(authorization?.headers ?? {}))
      headers[name.toLowerCase()] = value;
    return headers;
  };

  try {
    let authorization = connector ? await authorize(connector, false) : undefined;
    let refreshed = false;
    let retriesUsed = 0;
    for (;;) {
      const url = buildUrl(authorization);
      const headers = buildHeaders(authorization);
      trace.url = redactUrl(url);
      trace.requestHeaders = redactHeaders(headers, connectorHeaderNames);
      trace.attempts++;
      const retriesLeft = compiled.retries - retriesUsed;
      const mayRetryFailure = isIdempotent(method) && retriesLeft > 0;
      try {
        response = await sendWithBudget({
          url,
          method,
          headers,
          body: request.body,
          dispatcher,
          maxResponseBytes,
          signal,
          runAborted,
          // An attempt that may be retried gets its share of the remaining time, so that a retry can happen.
          budgetMs: mayRetryFailure ? (deadline - performance.now()) / (retriesLeft + 1) : undefined,
        });
      } catch (error) {
        if (!(error instanceof AttemptError)) throw error;
        // An earlier attempt's response (a 503 before a reset) must not pose as this attempt's answer.
        response = undefined;
        json = undefined;
        trace.status = null;
        if (error.code === "aborted") return fail("timeout", "the run was aborted");
        const transient = error.code === "network" || error.code === "timeout";
        if (transient && mayRetryFailure && !signal.aborted) {
          retriesUsed++;
          await sleep(
            Math.min(backoffMs(retriesUsed), Math.max(0, deadline - performance.now() - 1)),
            signal,
          );
          continue;
        }
        return fail(error.code, `${method} ${trace.url}: ${error.message}`);
      }
      trace.status = response.status;
      json = parseJsonBody(response.body);
      if (
        connector &&
        authorization &&
        connector.tokenExpired({ status: response.status, json: json ?? null })
      ) {
        if (refreshed)
          return fail(
            "auth",
            `connector "${connector.name}": the refreshed token was rejected too (status ${response.status})`,
          );
        refreshed = true;
        authorization.invalidate();
        authorization = await authorize(connector, true);
        continue;
      }
      if (isRetryableStatus(response.status) && retriesUsed < compiled.retries) {
        const wait = retryAfterMs(response.headers["retry-after"]) ?? backoffMs(retriesUsed + 1);
        // A wait that cannot end before the deadline is not started: the status is the answer.
        if (performance.now() + wait < deadline) {
          retriesUsed++;
          await sleep(wait, signal);
          continue;
        }
      }
      break;
    }
  } catch (error) {
    if (error instanceof HttpActivityError) return fail(error.code, error.message);
    if (error instanceof InvalidRequestError) return fail("invalid-request", error.message, error.fixable);
    if (signal.aborted || isAbortLike(error))
      return fail("timeout", `no usable response within the deadline of ${compiled.timeoutMs} ms`);
    throw error;
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener("abort", onRunAbort);
  }

  const status = response.status;
  if (status < 200 || status > 299) {
    const location =
      status >= 300 && status < 400 && response.headers.location ? " (redirect not followed)" : "";
    return fail("http-status", `${method} ${trace.url} answered ${status}${location}`);
  }
  if (compiled.parseSettings.length > 0) {
    if (json === undefined)
      return fail(
        "parse",
        `the response body is not JSON (content-type ${response.headers["content-type"] ?? "none"})`,
      );
    const applied = applyParseSettings(compiled.parseSettings, json, ctx);
    if ("error" in applied) return fail("parse", applied.error);
    return {
      outcome: "success",
      outputs: outputs(),
      details: { http: trace, assignments: applied.assignments },
    };
  }
  return { outcome: "success", outputs: outputs(), details: { http: trace } };
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
