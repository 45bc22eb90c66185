/** A run's own abort signal, fired by its host's signal or its deadline; `release` when the run ends. */
export interface RunAbort {
  readonly signal: AbortSignal;
  /** Whether the run deadline (not the host) ended the run. */
  readonly byDeadline: boolean;
  /**
   * Whether the run is aborted, reading the clock too: an activity that kept the event loop busy past the deadline
   * has kept the deadline's timer from firing, and the run must still not go on (or end `completed`) after it.
   */
  ended(): boolean;
  /** Leaves the host's signal and stops the deadline timer: nothing of the run stays attached. */
  release(): void;
}

interface HostFanOut {
  readonly runs: Set<AbortController>;
  readonly onAbort: () => void;
}

/**
 * Derives each run's signal from its host's. A host usually shares one signal across all its runs (a shutdown
 * signal): adding a listener per run to it would pile up thousands of listeners (Node warns past 10) and keep every
 * run reachable from the host's signal. So each engine adds one listener per host signal and fans the abort out to
 * the runs that use it. One per engine.
 */
export class RunAborts {
  readonly #hosts = new WeakMap<AbortSignal, HostFanOut>();

  /** Undefined when the run has neither a host signal nor a deadline: nothing can abort it. */
  open(host: AbortSignal | undefined, deadlineMs: number | undefined): RunAbort | undefined {
    if (host === undefined && deadlineMs === undefined) return undefined;
    const controller = new AbortController();
    let byDeadline = false;
    const deadlineAt = deadlineMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + deadlineMs;
    const timer =
      deadlineMs === undefined
        ? undefined
        : setTimeout(
            () => {
              byDeadline = true;
              controller.abort(new DOMException("run deadline passed", "TimeoutError"));
            },
            Math.max(0, deadlineMs),
          );
    if (host?.aborted) controller.abort(host.reason);
    else if (host !== undefined) this.#join(host, controller);
    return {
      signal: controller.signal,
      get byDeadline() {
        return byDeadline;
      },
      ended() {
        if (!controller.signal.aborted && deadlineMs !== undefined && performance.now() >= deadlineAt) {
          byDeadline = true;
          controller.abort(new DOMException("run deadline passed", "TimeoutError"));
        }
        return controller.signal.aborted;
      },
      release: () => {
        clearTimeout(timer);
        if (host !== undefined) this.#leave(host, controller);
      },
    };
  }

  /** Runs currently attached to `host`, for tests. */
  attached(host: AbortSignal): number {
    return this.#hosts.get(host)?.runs.size ?? 0;
  }

  #join(host: AbortSignal, run: AbortController): void {
    let fanOut = this.#hosts.get(host);
    if (fanOut === undefined) {
      const runs = new Set<AbortController>();
      const onAbort = () => {
        this.#hosts.delete(host);
        for (const each of runs) each.abort(host.reason);
        runs.clear();
      };
      fanOut = { runs, onAbort };
      this.#hosts.set(host, fanOut);
      host.addEventListener("abort", onAbort, { once: true });
    }
    fanOut.runs.add(run);
  }

  #leave(host: AbortSignal, run: AbortController): void {
    const fanOut = this.#hosts.get(host);
    if (fanOut === undefined || !fanOut.runs.delete(run) || fanOut.runs.size > 0) return;
    host.removeEventListener("abort", fanOut.onAbort);
    this.#hosts.delete(host);
  }
}
