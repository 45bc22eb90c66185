/**
 * The time budget of one operation (an activity, a background token refresh, a connectivity check): its deadline,
 * the signal that fires when the deadline passes or the caller aborts, and the waits made within it. Every wait of
 * the engine goes through a budget, so a test's injected clock reaches all of them and no helper builds a timer of
 * its own.
 */

/**
 * Time as waits see it: `now()` in `performance.now()` milliseconds (the clock deadlines are set in), a sleep that
 * ends early when its signal fires, and randomness for jitter. Injectable so that tests never wait in real time.
 */
export interface RetryClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

/** Real time: `performance.now()`, timers, `Math.random`. */
export const realClock: RetryClock = {
  now: () => performance.now(),
  sleep,
  random: Math.random,
};

/**
 * How long work no caller waits for (a proactive token refresh, its wait for the fleet's store) may take: it
 * belongs to no activity, so it has no activity deadline.
 */
export const BACKGROUND_LIMIT_MS = 30_000;

/** Exponential backoff with jitter: the one formula for every wait after a failure. */
export interface BackoffPolicy {
  /** The first backoff; each further retry doubles it. */
  readonly baseMs: number;
  /** No backoff is longer (a server's Retry-After may be). */
  readonly maxMs: number;
  /** Up to this fraction of the backoff is added at random, so that concurrent clients do not retry in step. */
  readonly jitter: number;
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

/**
 * Whether `error` is an abort: a signal's reason when it fired (`AbortSignal.timeout`'s `TimeoutError`, a
 * deadline's, `AbortController.abort()`'s `AbortError`) or a library's error for an aborted call.
 */
export function isAbortError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "AbortError" || name === "TimeoutError";
}

/** The reason a budget's signal fires with when its deadline passes. */
export function deadlineError(what = "deadline passed"): DOMException {
  return new DOMException(what, "TimeoutError");
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

/** Settles as `promise` does, or rejects with the signal's reason as soon as it fires (`promise` runs on). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

export interface BudgetOptions {
  /** The caller's signal (a run's abort): firing it ends the budget too. */
  readonly signal?: AbortSignal;
  /** Default: real time. */
  readonly clock?: RetryClock;
  /** The message of the `TimeoutError` the signal fires with at the deadline. */
  readonly expiredMessage?: string;
  /** What the signal fires with at the deadline instead (a caller's own error type); `expiredMessage` is then unused. */
  readonly expiredReason?: () => unknown;
  /**
   * The deadline's timer does not keep the process alive (a bound on a call that has handles of its own, such as
   * a Redis command); default false.
   */
  readonly unref?: boolean;
}

/**
 * A deadline and everything that waits on it. The signal is made only when something has to wait (a token, a
 * retry's pause, a race): an AbortController and its timer cost more than the rest of an activity's bookkeeping,
 * and most activities never wait. `release()` clears the timer and leaves the caller's signal.
 */
export class Budget {
  readonly deadline: number;
  readonly clock: RetryClock;
  readonly #parent: AbortSignal | undefined;
  readonly #expiredMessage: string;
  readonly #expiredReason: (() => unknown) | undefined;
  readonly #unref: boolean;
  #waits: { controller: AbortController; timer: ReturnType<typeof setTimeout> } | undefined;
  #onParentAbort: (() => void) | undefined;

  constructor(deadline: number, options: BudgetOptions = {}) {
    this.deadline = deadline;
    this.clock = options.clock ?? realClock;
    this.#parent = options.signal;
    this.#expiredMessage = options.expiredMessage ?? "deadline passed";
    this.#expiredReason = options.expiredReason;
    this.#unref = options.unref ?? false;
  }

  /** A budget of `ms` from now. */
  static of(ms: number, options: BudgetOptions = {}): Budget {
    return new Budget((options.clock ?? realClock).now() + ms, options);
  }

  /** Milliseconds left before the deadline (0 when it passed). */
  remaining(): number {
    return Math.max(0, this.deadline - this.clock.now());
  }

  /** Whether the deadline passed or the caller aborted. */
  get expired(): boolean {
    return (
      this.#waits?.controller.signal.aborted === true ||
      this.#parent?.aborted === true ||
      this.clock.now() >= this.deadline
    );
  }

  /** Whether a wait of `waitMs` followed by `attemptMs` of work ends before the deadline. */
  fits(waitMs: number, attemptMs = 0): boolean {
    return this.clock.now() + waitMs + attemptMs < this.deadline;
  }

  /** Fires at the deadline (a `TimeoutError`) or with the caller's reason when the caller aborts. */
  get signal(): AbortSignal {
    if (this.#waits === undefined) {
      const controller = new AbortController();
      const timer = setTimeout(
        () =>
          controller.abort(this.#expiredReason ? this.#expiredReason() : deadlineError(this.#expiredMessage)),
        Math.max(0, this.deadline - performance.now()),
      );
      if (this.#unref) timer.unref?.();
      const parent = this.#parent;
      if (parent !== undefined) {
        const onParentAbort = () => controller.abort(parent.reason);
        this.#onParentAbort = onParentAbort;
        parent.addEventListener("abort", onParentAbort, { once: true });
        if (parent.aborted) onParentAbort();
      }
      this.#waits = { controller, timer };
    }
    return this.#waits.controller.signal;
  }

  /** Waits `ms` on the budget's clock, ended early by the deadline or the caller's abort. */
  sleep(ms: number): Promise<void> {
    return this.clock.sleep(ms, this.signal);
  }

  /** `promise`'s outcome, or the budget's end if that comes first (`promise` runs on). */
  race<T>(promise: Promise<T>): Promise<T> {
    return raceAbort(promise, this.signal);
  }

  /**
   * A budget for work shared with others (a single-flight token fetch): the same clock and deadline, but not the
   * caller's signal, so that one caller's abort does not end what the others wait for.
   */
  detached(deadline: number = this.deadline): Budget {
    return new Budget(deadline, { clock: this.clock, expiredMessage: this.#expiredMessage });
  }

  /** Stops the deadline's timer and leaves the caller's signal: nothing of the budget stays attached. */
  release(): void {
    if (this.#waits !== undefined) clearTimeout(this.#waits.timer);
    if (this.#onParentAbort !== undefined) this.#parent?.removeEventListener("abort", this.#onParentAbort);
  }
}
