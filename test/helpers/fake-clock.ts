import type { RetryClock } from "../../src/core/budget.js";

/** A retry clock whose sleeps return at once: time jumps ahead by the wait, and every wait is recorded. */
export interface FakeClock extends RetryClock {
  /** Each wait asked for, in milliseconds, in order. */
  readonly waits: number[];
}

export function fakeClock(random = 0.5): FakeClock {
  let slept = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => performance.now() + slept,
    random: () => random,
    sleep(ms, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      waits.push(ms);
      slept += ms;
      return Promise.resolve();
    },
  };
}

/** A clock that moves only when told to (`advance`) or when something sleeps on it; every sleep is recorded. */
export function manualClock(start = 0, random = 0) {
  let now = start;
  const sleeps: number[] = [];
  const clock: RetryClock = {
    now: () => now,
    random: () => random,
    sleep(ms, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
  return { clock, sleeps, advance: (ms: number) => (now += ms) };
}
