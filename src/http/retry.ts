import { type BackoffPolicy, type Budget, backoffMs, type RetryClock } from "../core/budget.js";
import type { HttpMethod } from "../core/http-types.js";

/**
 * The one retry policy of API calls and token calls, and its one loop (`retrying`): which failures are retried, how
 * long to wait (Retry-After, else exponential backoff with jitter), and the one deadline rule (MIN_ATTEMPT_MS). The
 * loop waits on its budget's clock, so tests pass a fake one and never wait in real time.
 */

export interface RetryPolicy extends BackoffPolicy {
  /** Retries after the first attempt. */
  readonly retries: number;
}

/** API calls: about 100, 200, 400 ms; the activity's `retries` setting replaces `retries`. */
export const API_RETRY_POLICY: RetryPolicy = { retries: 0, baseMs: 100, maxMs: 10_000, jitter: 0.25 };

/** Token calls: up to 4 retries, 100 ms doubling to at most 2 s, always within the activity deadline. */
export const TOKEN_RETRY_POLICY: RetryPolicy = { retries: 4, baseMs: 100, maxMs: 2000, jitter: 0.25 };

/**
 * Methods whose repetition has no additional effect (https://www.rfc-editor.org/rfc/rfc9110#section-9.2.2). Only
 * these are retried after a network error or a timeout, because the first attempt may have reached the server.
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
 * The wait a `Retry-After` header asks for, in milliseconds: delay-seconds or an HTTP date
 * (https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3). Undefined when absent or unreadable; a date in the past
 * is 0.
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
 * The least time an attempt after a retry's wait must have before the deadline. The one deadline rule of every
 * retry: a retry happens only if its wait plus this fits before the deadline; otherwise the last outcome is the
 * answer at once (a wait that leaves no room for an attempt would only delay the failure).
 */
export const MIN_ATTEMPT_MS = 100;

/** How an attempt ended: its value, or what it threw. */
export type AttemptOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown };

/** What the caller's classifier says about an attempt's outcome. */
export type RetryVerdict =
  /** The outcome is the answer (success, or a failure not worth repeating). */
  | { readonly verdict: "final" }
  /** Try again after the server's `Retry-After` (when given), else the policy's backoff; counts as a retry. */
  | { readonly verdict: "retry"; readonly retryAfter?: string | undefined }
  /** Get new credentials (`refresh`), then try again at once; not a retry of the policy. */
  | { readonly verdict: "refresh" };

export interface RetryLoop<T> {
  readonly policy: RetryPolicy;
  /** The deadline every attempt and wait fits in, and the clock the waits sleep on. */
  readonly budget: Budget;
  /** One attempt; `retriesLeft` lets it leave time for the retries that may follow. */
  attempt(retriesLeft: number): Promise<T>;
  classify(outcome: AttemptOutcome<T>): RetryVerdict;
  /** Called on a `refresh` verdict, before the next attempt (the classifier decides how often that may happen). */
  refresh?(): Promise<void>;
}

/**
 * The one retry loop of API calls and token calls: attempts until the classifier says `final`, the policy's
 * retries are used up, or the next wait plus MIN_ATTEMPT_MS would not end before the budget's deadline; returns
 * the last outcome. A wait rejects when the budget ends (deadline or caller's abort) meanwhile.
 */
export async function retrying<T>(loop: RetryLoop<T>): Promise<AttemptOutcome<T>> {
  const { policy, budget } = loop;
  let retriesUsed = 0;
  for (;;) {
    let outcome: AttemptOutcome<T>;
    try {
      outcome = { ok: true, value: await loop.attempt(policy.retries - retriesUsed) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const verdict = loop.classify(outcome);
    if (verdict.verdict === "refresh" && loop.refresh !== undefined) {
      await loop.refresh();
      continue;
    }
    if (verdict.verdict !== "retry" || retriesUsed >= policy.retries) return outcome;
    const wait = retryDelayMs(policy, retriesUsed + 1, verdict.retryAfter, budget.clock);
    if (!budget.fits(wait, MIN_ATTEMPT_MS)) return outcome;
    retriesUsed++;
    await budget.sleep(wait);
  }
}
