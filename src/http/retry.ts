import type { HttpMethod } from "../core/http-types.js";

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
export function retryAfterMs(header: string | undefined, now: number = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Exponential backoff with a little jitter: about 100, 200, 400 ms, so concurrent runs do not retry in step. */
export function backoffMs(retry: number): number {
  const base = 100 * 2 ** Math.max(0, retry - 1);
  return base + Math.floor(Math.random() * (base / 4));
}

/** Waits `ms`, or rejects with the signal's reason as soon as it fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
