// The one retry loop: the verdicts of a classifier (retry after a wait, refresh then retry, final), the policy's
// retry count, and the one deadline rule (a retry only if its wait plus MIN_ATTEMPT_MS ends before the deadline).
import { describe, expect, it } from "vitest";
import { Budget, realClock } from "../../src/core/budget.js";
import {
  type AttemptOutcome,
  MIN_ATTEMPT_MS,
  type RetryPolicy,
  type RetryVerdict,
  retrying,
} from "../../src/http/retry.js";
import { manualClock } from "../helpers/fake-clock.js";

const POLICY: RetryPolicy = { retries: 3, baseMs: 100, maxMs: 1000, jitter: 0 };

/** Runs the loop over scripted attempts (a value or an Error to throw) and a classifier; records what happened. */
async function run(
  script: (string | Error)[],
  classify: (outcome: AttemptOutcome<string>) => RetryVerdict,
  options: { deadline?: number; policy?: RetryPolicy } = {},
) {
  const { clock, sleeps } = manualClock();
  const budget = new Budget(options.deadline ?? 60_000, { clock });
  const retriesLeft: number[] = [];
  let refreshes = 0;
  let next = 0;
  const outcome = await retrying<string>({
    policy: options.policy ?? POLICY,
    budget,
    async attempt(left) {
      retriesLeft.push(left);
      const step = script[Math.min(next++, script.length - 1)]!;
      if (step instanceof Error) throw step;
      return step;
    },
    classify,
    async refresh() {
      refreshes++;
    },
  });
  budget.release();
  return { outcome, sleeps, attempts: next, retriesLeft, refreshes };
}

const retryFailures = (outcome: AttemptOutcome<string>): RetryVerdict =>
  outcome.ok ? { verdict: "final" } : { verdict: "retry" };

describe("retrying", () => {
  it("final: the first outcome is the answer, nothing waits", async () => {
    const done = await run(["ok"], retryFailures);
    expect(done.outcome).toEqual({ ok: true, value: "ok" });
    expect(done.attempts).toBe(1);
    expect(done.sleeps).toEqual([]);
  });

  it("retry: waits the backoff (doubling) between attempts until an attempt is final", async () => {
    const done = await run([new Error("a"), new Error("b"), "ok"], retryFailures);
    expect(done.outcome).toEqual({ ok: true, value: "ok" });
    expect(done.sleeps).toEqual([100, 200]);
    expect(done.retriesLeft).toEqual([3, 2, 1]);
  });

  it("retry: stops after the policy's retries and returns the last failure", async () => {
    const done = await run(
      [new Error("a"), new Error("b"), new Error("c"), new Error("d"), "late"],
      retryFailures,
    );
    expect(done.attempts).toBe(4);
    expect(done.outcome.ok).toBe(false);
    expect((done.outcome as { error: Error }).error.message).toBe("d");
    expect(done.sleeps).toEqual([100, 200, 400]);
  });

  it("retry: the server's Retry-After replaces the backoff", async () => {
    const done = await run(["busy", "ok"], (outcome) =>
      outcome.ok && outcome.value === "busy" ? { verdict: "retry", retryAfter: "2" } : { verdict: "final" },
    );
    expect(done.outcome).toEqual({ ok: true, value: "ok" });
    expect(done.sleeps).toEqual([2000]);
  });

  it("refresh: refreshes and tries again at once, without using a retry", async () => {
    let refreshed = false;
    const done = await run(["expired", "ok"], (outcome) => {
      if (outcome.ok && outcome.value === "expired" && !refreshed) {
        refreshed = true;
        return { verdict: "refresh" };
      }
      return { verdict: "final" };
    });
    expect(done.outcome).toEqual({ ok: true, value: "ok" });
    expect(done.refreshes).toBe(1);
    expect(done.sleeps).toEqual([]);
    expect(done.retriesLeft).toEqual([3, 3]);
  });

  it("with no retries in the policy, a retry verdict is final", async () => {
    const done = await run([new Error("a"), "ok"], retryFailures, { policy: { ...POLICY, retries: 0 } });
    expect(done.attempts).toBe(1);
    expect(done.outcome.ok).toBe(false);
  });
});

describe("the one deadline rule", () => {
  it("retries when the wait plus MIN_ATTEMPT_MS ends before the deadline", async () => {
    // The first wait (100 ms) and an attempt fit exactly one millisecond before the deadline.
    const done = await run([new Error("a"), "ok"], retryFailures, { deadline: 100 + MIN_ATTEMPT_MS + 1 });
    expect(done.outcome).toEqual({ ok: true, value: "ok" });
    expect(done.sleeps).toEqual([100]);
  });

  it("does not start a wait that leaves less than MIN_ATTEMPT_MS: the last outcome is the answer at once", async () => {
    const done = await run([new Error("a"), "ok"], retryFailures, { deadline: 100 + MIN_ATTEMPT_MS });
    expect(done.attempts).toBe(1);
    expect(done.sleeps).toEqual([]);
    expect((done.outcome as { error: Error }).error.message).toBe("a");
  });

  it("applies to a server's Retry-After too (a wait longer than the budget is not started)", async () => {
    const done = await run(
      ["busy", "ok"],
      (outcome) =>
        outcome.ok && outcome.value === "busy" ? { verdict: "retry", retryAfter: "5" } : { verdict: "final" },
      { deadline: 5000 },
    );
    expect(done.outcome).toEqual({ ok: true, value: "busy" });
    expect(done.sleeps).toEqual([]);
  });

  it("stops retrying once the deadline leaves no room, before the policy's retries are used", async () => {
    // Waits 100 and 200 fit (now 300); the third (400 + 100) would end at 800, past the 700 deadline.
    const done = await run([new Error("a")], retryFailures, { deadline: 700 });
    expect(done.sleeps).toEqual([100, 200]);
    expect(done.attempts).toBe(3);
  });

  it("a wait that the caller's abort interrupts rejects with the caller's reason", async () => {
    // A real one-minute wait: only the abort, fired while the loop waits, can end this test in time.
    const caller = new AbortController();
    const budget = Budget.of(120_000, { signal: caller.signal, clock: realClock });
    let attempts = 0;
    const looping = retrying<string>({
      policy: { retries: 1, baseMs: 60_000, maxMs: 60_000, jitter: 0 },
      budget,
      attempt: () => {
        attempts++;
        setTimeout(() => caller.abort(new Error("run aborted")), 10);
        return Promise.reject(new Error("a"));
      },
      classify: retryFailures,
    });
    await expect(looping).rejects.toThrow("run aborted");
    expect(attempts).toBe(1);
    budget.release();
  });
});
