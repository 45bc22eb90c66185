import { rootCertificates } from "node:tls";
import { Agent, type Dispatcher, request } from "undici";
import { EgressDeniedError, type EgressPolicy } from "../core/egress-rules.js";
import { FlowrunError } from "../core/errors.js";
import { type EgressLookup, egressConnector } from "./egress.js";

/** Default cap on a response body (SPEC 3): 1 MiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * The engine's keep-alive connection pools. With `ca`, the custom CA is trusted in addition to Node's bundled
 * roots (Node 20 cannot list NODE_EXTRA_CA_CERTS, so those are not added when `ca` is given).
 */
/** Connections kept per origin when the engine is not told otherwise. */
export const DEFAULT_CONNECTIONS_PER_ORIGIN = 128;

export function createHttpAgent(
  options: {
    ca?: string | Buffer;
    connectionsPerOrigin?: number;
    /** Checks every new connection's resolved address against the egress policy (SPEC 12). */
    egress?: { policy: EgressPolicy; lookup?: EgressLookup };
  } = {},
): Agent {
  const tls = options.ca === undefined ? undefined : { ca: [...rootCertificates, options.ca.toString()] };
  return new Agent({
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    connections: options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN,
    connect: options.egress ? egressConnector(options.egress.policy, { ...tls }, options.egress.lookup) : tls,
  });
}

/** Why one attempt produced no response. `aborted` means the run itself was aborted by its host. */
export type AttemptFailureKind = "timeout" | "network" | "response-too-large" | "aborted" | "egress-denied";

export class AttemptError extends FlowrunError {
  override readonly code: AttemptFailureKind;
  constructor(kind: AttemptFailureKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = "AttemptError";
    this.code = kind;
  }
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface Attempt {
  readonly url: URL;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
  readonly dispatcher: Dispatcher;
  readonly maxResponseBytes: number;
  /** Fires at the attempt's deadline (reason: a TimeoutError) or when the run is aborted. */
  readonly signal: AbortSignal;
  /** Whether the run (not a deadline) aborted, to tell `aborted` from `timeout`. */
  readonly runAborted: () => boolean;
}

const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function describeNetworkError(error: unknown): string {
  const code = errorCode(error);
  const cause = (error as { cause?: unknown } | null)?.cause;
  const causeCode = errorCode(cause);
  const message = error instanceof Error ? error.message : String(error);
  const detail = causeCode && causeCode !== code ? ` (${causeCode})` : "";
  return code ? `${code}: ${message}${detail}` : `${message}${detail}`;
}

function classify(error: unknown, attempt: Attempt): AttemptError {
  if (error instanceof AttemptError) return error;
  if (error instanceof EgressDeniedError) return new AttemptError("egress-denied", error.message);
  if (attempt.signal.aborted) {
    return attempt.runAborted()
      ? new AttemptError("aborted", "the run was aborted", { cause: error })
      : new AttemptError("timeout", "no complete response before the deadline", { cause: error });
  }
  const code = errorCode(error);
  if (code && TIMEOUT_CODES.has(code)) return new AttemptError("timeout", describeNetworkError(error));
  return new AttemptError("network", describeNetworkError(error), { cause: error });
}

/**
 * Sends one request and reads the whole body, stopping (and destroying the stream) as soon as the body passes
 * the cap. Redirects are not followed: a 3xx is a response like any other.
 */
export async function sendAttempt(attempt: Attempt): Promise<HttpResponse> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(attempt.url, {
      dispatcher: attempt.dispatcher,
      method: attempt.method as Dispatcher.HttpMethod,
      headers: { ...attempt.headers },
      body: attempt.body,
      signal: attempt.signal,
      // No redirect option: undici v7 follows redirects only through its redirect interceptor, which the engine
      // never composes, so a 3xx comes back as a response (SPEC 3: redirects are never followed).
    });
  } catch (error) {
    throw classify(error, attempt);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  const tooLarge = () =>
    new AttemptError(
      "response-too-large",
      `the response body is larger than the limit of ${attempt.maxResponseBytes} bytes`,
    );
  const declared = Number(headers["content-length"]);
  if (Number.isFinite(declared) && declared > attempt.maxResponseBytes) {
    discard(response.body);
    throw tooLarge();
  }
  let text: string;
  try {
    text = await readCapped(response.body, attempt.maxResponseBytes, tooLarge);
  } catch (error) {
    discard(response.body);
    throw classify(error, attempt);
  }
  return { status: response.statusCode, headers, body: text };
}

/**
 * Reads a body to text, failing as soon as it passes the cap. Data events rather than an async iterator: the
 * iterator's per-chunk promises cost more than the rest of a small JSON response's handling.
 */
function readCapped(
  body: Dispatcher.ResponseData["body"],
  maxBytes: number,
  tooLarge: () => AttemptError,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let ended = false;
    body.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    body.once("end", () => {
      ended = true;
      resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    });
    body.once("error", reject);
    // "close" follows every "end"; only a close without one is a failure (and only then is an Error built).
    body.once("close", () => {
      if (!ended) reject(new Error("the response body closed before its end"));
    });
  });
}

/** Stops reading a body and closes its connection; the abort error undici then emits is expected, not a failure. */
function discard(body: Dispatcher.ResponseData["body"]): void {
  body.on("error", () => {});
  body.destroy();
}
