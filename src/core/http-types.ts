import type { Dispatcher } from "undici";
import type { RetryClock } from "./budget.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";
export const HTTP_METHODS: readonly HttpMethod[] = [
  "GET",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "HEAD",
  "OPTIONS",
];

/** What the engine lends to the http-request activity. */
export interface HttpServices {
  /** Connector requests, token requests included, go through this dispatcher (an Agent, or a MockAgent in replay). */
  readonly dispatcher: Dispatcher;
  /** Flow-authored URLs (`requestUrl`) go through this one, under the egress policy. */
  readonly flowUrlDispatcher: Dispatcher;
  readonly maxResponseBytes: number;
  /** Whether plain `http://` to loopback hosts is allowed (local test servers). */
  readonly allowLoopbackHttp: boolean;
  /** The retry policy's clock (waits, deadline checks, jitter); `realClock` unless a test injects one. */
  readonly retryClock: RetryClock;
}
