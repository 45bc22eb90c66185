import type { CredentialState, HttpTrace } from "../engine/result.js";

/**
 * The words for an http-request's trace, shared by the text trace and the HTML report. Each phrase is true in every
 * state the activity can end in: nothing is claimed about a URL that was never built, a request that was never
 * sent or a token that was never asked for (docs/trace.md lists the states).
 */
export interface HttpSummary {
  readonly method: string;
  /** The URL as sent (secrets redacted); undefined when no request was sent. */
  readonly url: string | undefined;
  /** The answer (`200`, `no response`, `response too large`) or, when nothing was sent, `not sent: <why>`. */
  readonly answer: string;
  /** Attempts and what the connector's credential step did. */
  readonly notes: readonly string[];
  readonly sent: boolean;
}

/** Why nothing was sent, from the credential step first (it runs before the request is built), then the error. */
function notSentBecause(http: Partial<HttpTrace>, errorKind: string | undefined): string {
  if (http.credentials === "failed") return "no credentials";
  if (http.credentials === "timeout") return "no token before the deadline";
  switch (errorKind) {
    case "invalid-request":
      return "invalid request";
    case "method-not-allowed":
      return "method not allowed by the connector";
    case "timeout":
      return "deadline passed";
    case undefined:
      return "no request made";
    default:
      return errorKind;
  }
}

/** The credential note of a request that was sent (or undefined when there is nothing true to say). */
function credentialNote(
  state: CredentialState | undefined,
  tokenFetched: boolean | undefined,
): string | undefined {
  switch (state) {
    case "basic":
      return "basic auth";
    case "key":
      return "API key";
    case "cached":
      return "token cached";
    case "fetched":
      return "token fetched";
    case "refreshed":
      return "token rejected, new token fetched";
    case "failed":
      return "token rejected, no new token";
    case "timeout":
      return "token rejected, no new token before the deadline";
    case "not-requested":
      return undefined;
    case undefined:
      // A trace from before `credentials` existed: only a fetch is known for certain.
      return tokenFetched ? "token fetched" : undefined;
  }
}

export function summarizeHttp(http: Partial<HttpTrace>, errorKind: string | undefined): HttpSummary {
  const method = http.method ?? "?";
  const attempts = http.attempts ?? 0;
  if (attempts === 0 || http.url === null || http.url === undefined) {
    const notes = http.credentials === "not-requested" ? ["credentials not requested"] : [];
    return {
      method,
      url: undefined,
      answer: `not sent: ${notSentBecause(http, errorKind)}`,
      notes,
      sent: false,
    };
  }
  const answer =
    typeof http.status === "number"
      ? String(http.status)
      : errorKind === "response-too-large"
        ? "response too large"
        : "no response";
  const notes = [`${attempts} attempt${attempts === 1 ? "" : "s"}`];
  const credential = credentialNote(http.credentials, http.tokenFetched);
  if (credential) notes.push(credential);
  notes.push(...(http.notes ?? []));
  return { method, url: http.url, answer, notes, sent: true };
}

/** One line: `GET https://… → 200 (1 attempt, token cached)` or `GET not sent: no credentials`. */
export function httpSummaryLine(summary: HttpSummary, dim: (text: string) => string = (t) => t): string {
  const notes = summary.notes.length > 0 ? ` ${dim(`(${summary.notes.join(", ")})`)}` : "";
  return summary.sent
    ? `${summary.method} ${summary.url} → ${summary.answer}${notes}`
    : `${summary.method} ${summary.answer}${notes}`;
}
