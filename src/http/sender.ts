import type { IncomingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";
import { EgressDeniedError } from "../core/egress-rules.js";
import { FlowrunError } from "../core/errors.js";
import {
  type Context,
  dispatchContext,
  type HttpClientMeasure,
  measureHttpClientRequest,
  withinContext,
} from "../core/telemetry.js";
import { AdmissionGate, type AdmissionWaiter } from "./admission.js";
import { proxyRefusal } from "./proxy.js";

/** Default cap on a response body: 1 MiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** The gates of the pools the engine built (withAdmissionGate); other dispatchers (a host's own, a MockAgent) have none. */
const gates = new WeakMap<Dispatcher, AdmissionGate>();

/** A dispatcher composed onto an engine Agent (a recording interceptor) still sends through the Agent's gate. */
export function withAgentAdmission<D extends Dispatcher>(agent: Dispatcher, composed: D): D {
  const gate = gates.get(agent);
  if (gate !== undefined) gates.set(composed, gate);
  return composed;
}

/** Registers an admission gate for a pool the engine built itself by other means (a proxy transport). */
export function withAdmissionGate<D extends Dispatcher>(dispatcher: D, connections: number): D {
  gates.set(dispatcher, new AdmissionGate(connections));
  return dispatcher;
}

/** Connections kept per origin when the engine is not told otherwise. */
export const DEFAULT_CONNECTIONS_PER_ORIGIN = 128;

/** Why one attempt produced no response. `aborted` means the run itself was aborted by its host. */
export type AttemptFailureKind = "timeout" | "network" | "response-too-large" | "aborted" | "egress-denied";

export class AttemptError extends FlowrunError {
  override readonly code: AttemptFailureKind;
  /** The failure came after the response had begun (its status and headers were read). */
  readonly duringResponse: boolean;
  /**
   * The request's bytes may have reached the server (the connection was up when it failed): the server may have
   * acted on it. False only when nothing can have been sent (refused connection, name lookup, connect timeout,
   * TLS handshake, still waiting for admission). A single-use credential is resent only when this is false.
   */
  readonly maybeSent: boolean;
  constructor(
    kind: AttemptFailureKind,
    message: string,
    options?: { cause?: unknown; duringResponse?: boolean; maybeSent?: boolean },
  ) {
    super(kind, message, options);
    this.name = "AttemptError";
    this.code = kind;
    this.duringResponse = options?.duringResponse ?? false;
    this.maybeSent = options?.maybeSent ?? true;
  }
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface Attempt {
  /** Where to send: a URL, or its origin and path already apart (the http-request activity has them so). */
  readonly url: URL | { readonly origin: string; readonly path: string };
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
  readonly dispatcher: Dispatcher;
  readonly maxResponseBytes: number;
  /** `performance.now()` milliseconds after which the attempt fails with `timeout`. */
  readonly deadline?: number;
  /** Ends the attempt when it fires: `aborted` when `runAborted()` says so, else `timeout`. */
  readonly signal?: AbortSignal;
  /** Whether the run (not a deadline) aborted, to tell `aborted` from `timeout`. */
  readonly runAborted?: () => boolean;
  /** The OpenTelemetry context the request belongs to (its span's); default: the context active when sent. */
  readonly traceContext?: Context;
}

/** undici's codes for a request given up for lack of an answer. */
export const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** Failures of establishing the connection: no byte of the request can have been written. */
const NOTHING_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_INVALID_ARG",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "EPROTO",
]);

/** Whether a failed attempt's request may have reached the server (see `AttemptError.maybeSent`). */
function mayHaveBeenSent(error: unknown, dispatched: boolean): boolean {
  // A proxy that refuses the tunnel (CONNECT answered 407, 403...) never forwarded a byte to the server.
  if (!dispatched || error instanceof EgressDeniedError || proxyRefusal(error) !== undefined) return false;
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | null)?.cause);
  return code === undefined || !NOTHING_SENT_CODES.has(code);
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function describeNetworkError(error: unknown): string {
  const refusal = proxyRefusal(error);
  if (refusal) return refusal;
  const code = errorCode(error);
  const cause = (error as { cause?: unknown } | null)?.cause;
  const causeCode = errorCode(cause);
  const message = error instanceof Error ? error.message : String(error);
  const detail = causeCode && causeCode !== code ? ` (${causeCode})` : "";
  return code ? `${code}: ${message}${detail}` : `${message}${detail}`;
}

function classify(error: unknown, duringResponse: boolean, dispatched = true): AttemptError {
  if (error instanceof AttemptError) return error;
  if (error instanceof EgressDeniedError)
    return new AttemptError("egress-denied", error.message, { cause: error, maybeSent: false });
  const code = errorCode(error);
  const maybeSent = duringResponse || mayHaveBeenSent(error, dispatched);
  if (code && TIMEOUT_CODES.has(code))
    return new AttemptError("timeout", describeNetworkError(error), {
      cause: error,
      duringResponse,
      maybeSent,
    });
  return new AttemptError("network", describeNetworkError(error), {
    cause: error,
    duringResponse,
    maybeSent,
  });
}

/**
 * Sends one request and reads the whole body, failing as soon as the body passes the cap. Redirects are not
 * followed: a 3xx is a response like any other.
 *
 * Through `dispatcher.dispatch` with a handler of its own rather than `undici.request`: the engine needs neither
 * a body stream nor an AbortSignal per request, and those two cost about as much CPU as the rest of an exchange.
 */
export function sendAttempt(attempt: Attempt): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    new PendingAttempt(attempt, resolve, reject).start();
  });
}

/** One attempt from admission to its last byte: the undici handler, the timer, the body cap. */
class PendingAttempt implements Dispatcher.DispatchHandler, AdmissionWaiter {
  readonly #attempt: Attempt;
  readonly #origin: string;
  readonly #path: string;
  readonly #gate: AdmissionGate | undefined;
  #resolve: ((response: HttpResponse) => void) | undefined;
  #reject: (error: AttemptError) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  /** Why the attempt was ended before undici handed over a controller to end it with. */
  #abortReason: AttemptError | undefined;
  /** 0: waiting for admission; 1: handed to undici; 2: undici is done with it. */
  #stage = 0;
  #status = 0;
  #headers: Record<string, string> = {};
  #chunks: Buffer[] = [];
  #received = 0;
  /** Captured when the attempt starts: admission may hand it to undici later, from another request's callback. */
  readonly #context: Context | undefined;
  readonly #measure: HttpClientMeasure | undefined;

  constructor(
    attempt: Attempt,
    resolve: (response: HttpResponse) => void,
    reject: (error: AttemptError) => void,
  ) {
    this.#attempt = attempt;
    const { url } = attempt;
    if (url instanceof URL) {
      this.#origin = url.origin;
      this.#path = `${url.pathname}${url.search}`;
    } else {
      this.#origin = url.origin;
      this.#path = url.path;
    }
    this.#gate = gates.get(attempt.dispatcher);
    this.#context = dispatchContext(attempt.traceContext);
    this.#measure = measureHttpClientRequest(attempt.method, this.#origin);
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(): void {
    const { signal, deadline } = this.#attempt;
    if (signal?.aborted) {
      this.#settleWithError(this.#abortError(false));
      return;
    }
    signal?.addEventListener("abort", this.#onSignal);
    if (deadline !== undefined) {
      this.#timer = setTimeout(this.#onDeadline, Math.max(1, Math.ceil(deadline - performance.now())));
    }
    if (this.#gate === undefined || this.#gate.enter(this.#origin, this)) this.admit();
  }

  /** Hands the request to undici (now, or when the gate has a free slot for it). */
  admit(): void {
    this.#stage = 1;
    const attempt = this.#attempt;
    try {
      withinContext(this.#context, () => this.#dispatch(attempt));
    } catch (error) {
      // undici refused the request before taking it: nothing was sent.
      this.#finished();
      this.#settleWithError(classify(error, false, false));
    }
  }

  #dispatch(attempt: Attempt): void {
    attempt.dispatcher.dispatch(
      {
        origin: this.#origin,
        path: this.#path,
        method: attempt.method as Dispatcher.HttpMethod,
        headers: attempt.headers,
        body: attempt.body,
        // No redirect option: undici v7 follows redirects only through its redirect interceptor, which the
        // engine never composes, so a 3xx comes back as a response (redirects are never followed).
      },
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    this.#status = statusCode;
    // undici's own object, names already lower-cased: repeated headers are joined in place.
    for (const name in headers) {
      const value = headers[name];
      if (Array.isArray(value)) headers[name] = value.join(", ");
      else if (value === undefined) delete headers[name];
    }
    this.#headers = headers as Record<string, string>;
    const declared = Number(this.#headers["content-length"]);
    if (Number.isFinite(declared) && declared > this.#attempt.maxResponseBytes)
      controller.abort(this.#tooLarge());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#received += chunk.length;
    // A detached request's body is counted against the cap, but not kept.
    if (this.#received > this.#attempt.maxResponseBytes) {
      controller.abort(this.#tooLarge());
      return;
    }
    if (this.#resolve !== undefined) this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.#finished();
    if (this.#resolve === undefined) return;
    const chunks = this.#chunks;
    const body =
      chunks.length === 0
        ? ""
        : chunks.length === 1
          ? chunks[0]!.toString("utf8")
          : Buffer.concat(chunks).toString("utf8");
    const resolve = this.#resolve;
    this.#settle();
    this.#measure?.ended(this.#status);
    resolve?.({ status: this.#status, headers: this.#headers, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.#finished();
    this.#settleWithError(this.#abortReason ?? classify(error, this.#status !== 0));
  }

  readonly #onSignal = (): void => {
    const reason = this.#abortError(this.#stage === 1);
    if (this.#stage === 1 && reason.code === "aborted") this.#detach(reason);
    else this.#end(reason);
  };

  readonly #onDeadline = (): void => {
    this.#timer = undefined;
    this.#end(
      new AttemptError("timeout", "no complete response before the deadline", {
        maybeSent: this.#stage === 1,
      }),
    );
  };

  #abortError(maybeSent: boolean): AttemptError {
    return this.#attempt.runAborted?.()
      ? new AttemptError("aborted", "the run was aborted", { maybeSent })
      : new AttemptError("timeout", "no complete response before the deadline", { maybeSent });
  }

  #tooLarge(): AttemptError {
    return new AttemptError(
      "response-too-large",
      `the response body is larger than the limit of ${this.#attempt.maxResponseBytes} bytes`,
    );
  }

  /** Ends the attempt early: a waiting one never reaches undici; a sent one is aborted there. */
  #end(reason: AttemptError): void {
    if (this.#stage === 0) {
      this.#gate?.withdraw(this.#origin, this);
      this.#stage = 2;
      this.#clearTimer();
    } else if (this.#stage === 1) {
      this.#abortReason = reason;
      // Without a controller yet, undici still queues the request: onRequestStart aborts it.
      this.#controller?.abort(reason);
    }
    // The caller is answered now, not when undici gets round to reporting the abort.
    this.#settleWithError(reason);
  }

  /**
   * The run was aborted while its request was with undici: the caller is answered at once, but the request is
   * left to finish (its body read and dropped, its deadline still running). Aborting it would close its connection,
   * and undici 7 then opens a new one at once (nodejs/undici#386): a hang-up of thousands of calls would become
   * thousands of new connections to the API. Finished, the connection serves the next request instead.
   */
  #detach(reason: AttemptError): void {
    this.#settleWithError(reason);
  }

  /** undici is done with the request: its slot is free. */
  #finished(): void {
    this.#clearTimer();
    if (this.#stage !== 1) return;
    this.#stage = 2;
    this.#gate?.leave(this.#origin);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #settleWithError(error: AttemptError): void {
    const reject = this.#resolve === undefined ? undefined : this.#reject;
    this.#settle();
    if (reject !== undefined) this.#measure?.ended(this.#status, error);
    reject?.(error);
  }

  /** Answers the caller (once); undici may still be busy with the request. */
  #settle(): void {
    if (this.#resolve === undefined) return;
    this.#resolve = undefined;
    this.#attempt.signal?.removeEventListener("abort", this.#onSignal);
  }
}
