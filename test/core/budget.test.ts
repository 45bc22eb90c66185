// The time budget: its deadline read on the injected clock, its lazily made signal, waits and races that end with
// it, and the backoff and abort predicates every wait of the engine shares.
import { describe, expect, it, vi } from "vitest";
import {
  BACKGROUND_LIMIT_MS,
  Budget,
  backoffMs,
  deadlineError,
  isAbortError,
} from "../../src/core/budget.js";
import { manualClock } from "../helpers/fake-clock.js";

describe("Budget", () => {
  it("reads its deadline on the injected clock: remaining, fits, expired", () => {
    const { clock, advance } = manualClock(1000);
    const budget = Budget.of(500, { clock });
    expect(budget.deadline).toBe(1500);
    expect(budget.remaining()).toBe(500);
    expect(budget.fits(399, 100)).toBe(true);
    expect(budget.fits(400, 100)).toBe(false);
    expect(budget.expired).toBe(false);
    advance(499);
    expect(budget.remaining()).toBe(1);
    expect(budget.expired).toBe(false);
    advance(1);
    expect(budget.remaining()).toBe(0);
    expect(budget.expired).toBe(true);
  });

  it("sleeps on its clock, not in real time", async () => {
    const { clock, sleeps } = manualClock(0);
    const budget = new Budget(60_000, { clock });
    const started = performance.now();
    await budget.sleep(20_000);
    expect(sleeps).toEqual([20_000]);
    expect(budget.remaining()).toBe(40_000);
    expect(performance.now() - started).toBeLessThan(1000);
    budget.release();
  });

  it("makes no timer and no signal until something waits on it", () => {
    const timers = vi.spyOn(globalThis, "setTimeout");
    const budget = Budget.of(1000);
    budget.remaining();
    budget.fits(10);
    expect(budget.expired).toBe(false);
    budget.release();
    expect(timers).not.toHaveBeenCalled();
    const signal = budget.signal;
    expect(timers).toHaveBeenCalledTimes(1);
    expect(budget.signal).toBe(signal);
    expect(signal.aborted).toBe(false);
    budget.release();
    timers.mockRestore();
  });

  it("its signal fires with a TimeoutError at the deadline", async () => {
    const budget = Budget.of(20, { expiredMessage: "activity deadline passed" });
    const reason = await new Promise<unknown>((resolve) =>
      budget.signal.addEventListener("abort", () => resolve(budget.signal.reason)),
    );
    expect(isAbortError(reason)).toBe(true);
    expect((reason as Error).message).toBe("activity deadline passed");
    expect(budget.expired).toBe(true);
    budget.release();
  });

  it("fires with the caller's own error when it asks for one", async () => {
    const budget = Budget.of(10, {
      expiredReason: () => new RangeError("Redis read took too long"),
      unref: true,
    });
    await expect(budget.race(new Promise(() => {}))).rejects.toThrow(RangeError);
    budget.release();
  });

  it("the caller's abort ends it with the caller's reason, also when it fired before", async () => {
    const caller = new AbortController();
    const budget = Budget.of(60_000, { signal: caller.signal });
    const race = budget.race(new Promise(() => {}));
    caller.abort(new Error("host hung up"));
    await expect(race).rejects.toThrow("host hung up");
    expect(budget.expired).toBe(true);
    budget.release();

    const early = Budget.of(60_000, { signal: caller.signal });
    expect(early.signal.aborted).toBe(true);
    await expect(early.sleep(10)).rejects.toThrow("host hung up");
    early.release();
  });

  it("race settles as the promise does while the budget lasts", async () => {
    const budget = Budget.of(60_000);
    await expect(budget.race(Promise.resolve(7))).resolves.toBe(7);
    await expect(budget.race(Promise.reject(new Error("no")))).rejects.toThrow("no");
    budget.release();
  });

  it("release leaves the caller's signal and stops the timer", () => {
    const caller = new AbortController();
    const budget = Budget.of(60_000, { signal: caller.signal });
    const signal = budget.signal;
    budget.release();
    caller.abort(new Error("after release"));
    expect(signal.aborted).toBe(false);
  });

  it("a detached budget keeps the clock and deadline but not the caller's abort", () => {
    const { clock } = manualClock(0);
    const caller = new AbortController();
    const budget = new Budget(5000, { clock, signal: caller.signal });
    const shared = budget.detached();
    const longer = budget.detached(9000);
    caller.abort();
    expect(budget.expired).toBe(true);
    expect(shared.expired).toBe(false);
    expect(shared.deadline).toBe(5000);
    expect(shared.clock).toBe(clock);
    expect(longer.deadline).toBe(9000);
    budget.release();
  });
});

describe("backoffMs", () => {
  const policy = { baseMs: 100, maxMs: 1000, jitter: 0.25 };
  it("doubles from baseMs up to maxMs", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(policy, n, { random: () => 0 }))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });
  it("adds at most `jitter` of the backoff at random", () => {
    expect(backoffMs(policy, 1, { random: () => 0.999 })).toBe(124);
    expect(backoffMs(policy, 6, { random: () => 0.5 })).toBe(1125);
  });
});

describe("isAbortError", () => {
  it("knows aborts and timeouts by name, nothing else", () => {
    expect(isAbortError(deadlineError())).toBe(true);
    expect(isAbortError(new DOMException("x", "AbortError"))).toBe(true);
    expect(isAbortError(AbortSignal.abort().reason)).toBe(true);
    expect(isAbortError(new Error("TimeoutError"))).toBe(false);
    expect(isAbortError(undefined)).toBe(false);
    expect(isAbortError(null)).toBe(false);
  });
});

it("one background limit: 30 s", () => {
  expect(BACKGROUND_LIMIT_MS).toBe(30_000);
});
