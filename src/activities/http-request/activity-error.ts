import { FlowrunError } from "../../core/errors.js";

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

/** How much of a refused response's body an error keeps: enough to read an API's error object, no more. */
export const BODY_EXCERPT_CHARS = 512;

/** What an HttpRequestError knows of the exchange besides its kind and message. */
export interface HttpRequestErrorDetails {
  /** The status of the last response, when there was one. */
  readonly status?: number;
  /** The request's URL as the trace shows it: secret query values and credentials redacted. */
  readonly url?: string;
  /** The start of the last response's body, every known secret scrubbed (a server may echo a credential). */
  readonly bodyExcerpt?: string;
}

/**
 * A failed http-request activity, with what a host needs to act on it (as ky's `HTTPError` and oauth4webapi's
 * `ResponseBodyError` keep): the stable `code` (the activity's `error.kind`), the status, the redacted URL and a
 * scrubbed excerpt of the body. Messages and excerpts never carry a secret the engine knows.
 */
export class HttpRequestError extends FlowrunError {
  override readonly code: HttpErrorKind;
  readonly status: number | undefined;
  readonly url: string | undefined;
  readonly bodyExcerpt: string | undefined;

  constructor(kind: HttpErrorKind, message: string, details: HttpRequestErrorDetails = {}) {
    super(kind, message);
    this.name = "HttpRequestError";
    this.code = kind;
    this.status = details.status;
    this.url = details.url;
    this.bodyExcerpt = details.bodyExcerpt;
  }
}

/**
 * The start of a response body with secrets removed. Scrubbed before it is shortened: a secret cut in half by the
 * shortening would no longer match and would escape.
 */
export function bodyExcerpt(body: string, scrub: (text: string) => string): string | undefined {
  if (body.length === 0) return undefined;
  const scrubbed = scrub(body);
  return scrubbed.length > BODY_EXCERPT_CHARS ? `${scrubbed.slice(0, BODY_EXCERPT_CHARS)}...` : scrubbed;
}
