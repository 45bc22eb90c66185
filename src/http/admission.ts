/**
 * Per-origin admission in front of undici's pools.
 *
 * undici 7 opens a connection for every request waiting in a pool's queue, even one whose caller aborted while it
 * waited (nodejs/undici#386; the fix, nodejs/undici#5662, is not in the 7 line). When thousands of calls hang up at
 * once, that is a storm of connections to an API that is already in trouble. So the engine hands an origin's pool
 * no more requests at a time than the pool has connections, and keeps the rest in its own queue, from which an
 * aborted request leaves at once without undici ever seeing it.
 */

/** A request waiting for a free slot; `admit` hands it to undici. */
export interface AdmissionWaiter {
  admit(): void;
}

interface OriginLine {
  /** Requests handed to undici and not yet finished. */
  active: number;
  /** In arrival order; created when the first request has to wait. */
  waiting: Set<AdmissionWaiter> | undefined;
}

export class AdmissionGate {
  readonly #limit: number;
  readonly #lines = new Map<string, OriginLine>();
  readonly #toDrain = new Set<string>();
  #drainScheduled = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Takes a slot for `origin` (true: send now), or queues `waiter` until a slot is free (false). */
  enter(origin: string, waiter: AdmissionWaiter): boolean {
    let line = this.#lines.get(origin);
    if (line === undefined) {
      line = { active: 0, waiting: undefined };
      this.#lines.set(origin, line);
    }
    // Nobody overtakes a waiting request, even when a slot has just come free.
    if (line.active < this.#limit && (line.waiting === undefined || line.waiting.size === 0)) {
      line.active++;
      return true;
    }
    line.waiting ??= new Set();
    line.waiting.add(waiter);
    return false;
  }

  /** Removes a waiter that gave up before it was admitted. */
  withdraw(origin: string, waiter: AdmissionWaiter): void {
    const line = this.#lines.get(origin);
    if (line?.waiting?.delete(waiter)) this.#forgetIfIdle(origin, line);
  }

  /** Gives a slot back once undici is done with the request. */
  leave(origin: string): void {
    const line = this.#lines.get(origin);
    if (line === undefined) return;
    line.active--;
    if (line.waiting !== undefined && line.waiting.size > 0) this.#scheduleDrain(origin);
    else this.#forgetIfIdle(origin, line);
  }

  /** Requests handed to undici for `origin` and requests waiting for it, for tests and diagnostics. */
  load(origin: string): { active: number; waiting: number } {
    const line = this.#lines.get(origin);
    return { active: line?.active ?? 0, waiting: line?.waiting?.size ?? 0 };
  }

  /**
   * Waiters are admitted on the next turn of the event loop, not inside `leave`: a host that hangs up on all its
   * calls aborts them one after another in one synchronous loop, and each aborted request leaves a slot. Admitting
   * a waiter there would hand undici a request whose own abort is a few iterations further down that loop.
   */
  #scheduleDrain(origin: string): void {
    this.#toDrain.add(origin);
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      const origins = [...this.#toDrain];
      this.#toDrain.clear();
      for (const each of origins) this.#drain(each);
    });
  }

  #drain(origin: string): void {
    const line = this.#lines.get(origin);
    if (line === undefined) return;
    while (line.active < this.#limit && line.waiting !== undefined && line.waiting.size > 0) {
      const waiter = line.waiting.values().next().value as AdmissionWaiter;
      line.waiting.delete(waiter);
      line.active++;
      waiter.admit();
    }
    this.#forgetIfIdle(origin, line);
  }

  /** Lines of origins nobody talks to any more are dropped: request URLs may name any number of origins. */
  #forgetIfIdle(origin: string, line: OriginLine): void {
    if (line.active === 0 && (line.waiting === undefined || line.waiting.size === 0))
      this.#lines.delete(origin);
  }
}
