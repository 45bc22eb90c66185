import type { Dispatcher } from "undici";

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

/**
 * Time as the retry policy (src/http/retry.ts) sees it: `now()` in `performance.now()` milliseconds (the clock
 * deadlines are set in), a sleep that ends early when its signal fires, and randomness for jitter. Injectable so
 * that tests never wait in real time.
 */
export interface RetryClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}
