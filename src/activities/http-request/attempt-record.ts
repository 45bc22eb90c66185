import type { Authorization } from "../../core/connector-seam.js";
import type { HttpMethod } from "../../core/http-types.js";
import { isSecretName, REDACTED } from "../../core/redact.js";
import { type HttpAttemptTelemetry, traceContextHeaders } from "../../core/telemetry.js";
import type { RunContext } from "../../engine/activity.js";
import type { RequestUrl } from "./url-cache.js";

/** The headers an attempt sends and, built in the same pass, the headers its trace shows. */
export interface AttemptHeaders {
  readonly sent: Record<string, string>;
  readonly shown: Record<string, string>;
}

/**
 * The headers of one attempt: the flow's (secret-named ones redacted in `shown`), the content type, and the
 * connector's credentials (always redacted, and taught to the engine's scrubber so no output shows them).
 */
export function attemptHeaders(
  headers: Readonly<Record<string, string>>,
  contentType: string | undefined,
  authorization: Authorization | undefined,
  ctx: RunContext,
): AttemptHeaders {
  const sent: Record<string, string> = {};
  const shown: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    sent[name] = value;
    shown[name] = isSecretName(name) ? REDACTED : value;
  }
  if (contentType !== undefined) {
    sent["content-type"] = contentType;
    shown["content-type"] = contentType;
  }
  if (authorization !== undefined) {
    for (const [name, value] of Object.entries(authorization.headers)) {
      const lower = name.toLowerCase();
      sent[lower] = value;
      shown[lower] = REDACTED;
      ctx.services.scrubber.addCredentialHeader(value);
    }
  }
  return { sent, shown };
}

/** The attempt's CLIENT span, and W3C trace headers for a connector that opted in (docs/telemetry.md). */
export function startAttemptSpan(
  method: HttpMethod,
  url: RequestUrl,
  headers: AttemptHeaders,
  resendCount: number,
  propagateTraceContext: boolean,
  ctx: RunContext,
): HttpAttemptTelemetry | undefined {
  const attempt = ctx.telemetry?.startHttpAttempt({
    method,
    origin: url.origin,
    // Spans leave the process: a known secret in any query parameter (not only a secret-named one) is removed.
    redactedUrl: ctx.services.scrubber.scrubText(url.shown),
    activityId: ctx.activityId,
    resendCount,
  });
  if (propagateTraceContext) {
    const traceHeaders = traceContextHeaders(attempt, ctx.telemetry);
    Object.assign(headers.sent, traceHeaders);
    Object.assign(headers.shown, traceHeaders);
  }
  return attempt;
}

/** The body parsed as JSON, or undefined when it is empty or not JSON. */
export function parseJsonBody(text: string): unknown {
  // Whitespace-only text fails JSON.parse below, so only the empty string needs a check of its own.
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
