import type { HttpMethod, RetryClock } from "../core/http-types.js";

export type { RetryClock } from "../core/http-types.js";

/**
 * The one retry policy of API calls and token calls: which failures are retried, how long to wait (Retry-After,
 * else exponential backoff with jitter), and whether a wait still fits before the deadline. The timing functions
 * are pure over a `RetryClock`, so tests pass a fake one and never wait in real time.
 */

/** Real time: `performance.now()` (the clock deadlines are set in), timers, `Math.random`. */
export const realClock: RetryClock = {
  now: () => performance.now(),
  sleep,
  random: Math.random,
};

/** Exponential backoff with jitter: the one formula for every wait after a failure. */
export interface BackoffPolicy {
  /** The first backoff; each further retry doubles it. */
  readonly baseMs: number;
  /** No backoff is longer (a server's Retry-After may be). */
  readonly maxMs: number;
  /** Up to this fraction of the backoff is added at random, so that concurrent runs do not retry in step. */
  readonly jitter: number;
}

export interface RetryPolicy extends BackoffPolicy {
  /** Retries after the first attempt. */
  readonly retries: number;
}

/** API calls: about 100, 200, 400 ms; the activity's `retries` setting replaces `retries`. */
export const API_RETRY_POLICY: RetryPolicy = { retries: 0, baseMs: 100, maxMs: 10_000, jitter: 0.25 };

/** Token calls: up to 4 retries, 100 ms doubling to at most 2 s, always within the activity deadline. */
export const TOKEN_RETRY_POLICY: RetryPolicy = { retries: 4, baseMs: 100, maxMs: 2000, jitter: 0.25 };

/**
 * Methods whose repetition has no additional effect (RFC 9110 section 9.2.2). Only these are retried after a
 * network error or a timeout, because the first attempt may have reached the server.
 */
const IDEMPOTENT_METHODS: ReadonlySet<HttpMethod> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/** Statuses that say "not now" without the request having had an effect; retried for every method. */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export function isIdempotent(method: HttpMethod): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/**
 * The wait a `Retry-After` header asks for, in milliseconds: delay-seconds or an HTTP date (RFC 9110 section
 * 10.2.3). Undefined when absent or unreadable; a date in the past is 0.
 */
export function retryAfterMs(
  header: string | undefined,
  nowEpochMs: number = Date.now(),
): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowEpochMs);
}

/** The exponential backoff before retry `retryNumber` (1-based), jitter included. */
export function backoffMs(
  policy: BackoffPolicy,
  retryNumber: number,
  clock: Pick<RetryClock, "random">,
): number {
  const base = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, retryNumber - 1));
  return base + Math.floor(clock.random() * base * policy.jitter);
}

/** The wait before retry `retryNumber` (1-based): what the server's `Retry-After` asks, else the backoff. */
export function retryDelayMs(
  policy: RetryPolicy,
  retryNumber: number,
  retryAfterHeader: string | undefined,
  clock: RetryClock,
): number {
  return retryAfterMs(retryAfterHeader) ?? backoffMs(policy, retryNumber, clock);
}

/**
 * Whether a wait of `waitMs`, followed by `attemptMs` for the attempt itself, ends before `deadline` (in the
 * clock's time). A wait that cannot is not started: it would only delay the failure.
 */
export function canWaitBeforeDeadline(
  waitMs: number,
  deadline: number,
  clock: RetryClock,
  attemptMs = 0,
): boolean {
  return clock.now() + waitMs + attemptMs < deadline;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
