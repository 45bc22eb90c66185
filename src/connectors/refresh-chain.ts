import { type BackoffPolicy, backoffMs } from "../core/budget.js";
import { AuthError } from "./errors.js";

/**
 * A refresh token with its generation: the configured one is generation 0 (or the generation stored with it), and
 * every rotation (RFC 6749 section 6) makes the next one. A store keeps whichever generation is higher, so a stale
 * copy (a Redis restored from an old snapshot, a process that slept through rotations) can never replace the token
 * the server currently accepts.
 */
export interface HeldRefreshToken {
  readonly refreshToken: string;
  readonly generation: number;
}

/** The newer of two held refresh tokens (the first when they are of the same generation). */
export function newerRefreshToken(
  mine: HeldRefreshToken,
  theirs: HeldRefreshToken | undefined,
): HeldRefreshToken {
  return theirs !== undefined && theirs.generation > mine.generation ? theirs : mine;
}

/** `<generation>:<value>`: how a store that keeps text (Redis) keeps a generation with its sealed token. */
export function withGeneration(generation: number, value: string): string {
  return `${generation}:${value}`;
}

/** Reads `<generation>:<value>`; a value written before generations existed is generation 0. */
export function splitGeneration(stored: string): { generation: number; value: string } {
  const match = /^(\d{1,15}):/.exec(stored);
  if (!match) return { generation: 0, value: stored };
  return { generation: Number(match[1]), value: stored.slice(match[0].length) };
}

/**
 * After the token endpoint refused a connector's refresh token: 10 s, doubling to 60 s, plus up to 20 % at random
 * so that the processes of a fleet do not all try again in the same instant.
 */
const REFUSAL_BACKOFF: BackoffPolicy = { baseMs: 10_000, maxMs: 60_000, jitter: 0.2 };

interface Refusal {
  readonly count: number;
  readonly until: number;
  readonly reason: string;
}

/**
 * Per connector, the token endpoint's last refusal of its refresh token (`invalid_grant`): until the backoff ends
 * no refresh is sent, so a dead credential costs the identity provider a few requests a minute, not one per call
 * (providers rate-limit or lock clients that keep presenting a revoked token). A run that needs a token meanwhile
 * fails at once with code `refresh-backoff`, saying why the refresh was not tried.
 */
export class RefusalBackoff {
  readonly #refusals = new Map<string, Refusal>();
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(options: { now?: () => number; random?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Throws `refresh-backoff` while the connector's last refusal is recent. */
  check(connectorId: string, owner: string): void {
    const refusal = this.#refusals.get(connectorId);
    if (refusal === undefined) return;
    const left = refusal.until - this.#now();
    if (left <= 0) return;
    throw new AuthError(
      `${owner}: the refresh token was not sent: the token endpoint refused it ${refusal.count === 1 ? "once" : `${refusal.count} times in a row`} (${refusal.reason}); next try in ${Math.ceil(left / 1000)} s`,
      { code: "refresh-backoff" },
    );
  }

  /** Whether a refresh of the connector would be refused by `check` now. */
  active(connectorId: string): boolean {
    const refusal = this.#refusals.get(connectorId);
    return refusal !== undefined && refusal.until > this.#now();
  }

  refused(connectorId: string, reason: string): void {
    const count = (this.#refusals.get(connectorId)?.count ?? 0) + 1;
    const wait = backoffMs(REFUSAL_BACKOFF, count, { random: this.#random });
    this.#refusals.set(connectorId, { count, until: this.#now() + wait, reason });
  }

  /** A refresh succeeded, or the connector was changed (a new credential deserves a try at once). */
  clear(connectorId: string): void {
    this.#refusals.delete(connectorId);
  }
}
