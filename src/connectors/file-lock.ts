import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { open, readFile, stat, unlink, utimes } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { type BackoffPolicy, backoffMs, realClock } from "../core/budget.js";
import { ConnectorError } from "./errors.js";

export interface FileLockOptions {
  /** A lock whose holder stopped refreshing it this long ago is taken over. Default 10 s. */
  readonly staleMs?: number;
  /** How long to wait for a held lock before refusing. Default 5 s. */
  readonly timeoutMs?: number;
}

/** Releases the lock; safe to call twice. Never removes a lock someone else took over meanwhile. */
export type ReleaseLock = () => Promise<void>;

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly acquiredAt: string;
  /** The pid namespace (`/proc/self/ns/pid` link, e.g. `pid:[4026531836]`): a pid means something only inside it. */
  readonly pidNamespace?: string;
  /** The holder's start time in clock ticks since boot (`/proc/PID/stat` field 22): tells a reused pid apart. */
  readonly startTime?: string;
  /**
   * The kernel's boot id (`/proc/sys/kernel/random/boot_id`): namespace numbers repeat on every machine, so two
   * hosts (or pods on two nodes with one host name) sharing the file over NFS are told apart by it.
   */
  readonly bootId?: string;
}

const DEFAULT_STALE_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 5_000;
/**
 * A lock file that is empty or half-written this long after it was created belongs to a writer that died between
 * creating and writing it (the write takes microseconds): it is taken over without waiting for `staleMs`.
 */
const UNWRITTEN_GRACE_MS = 2_000;

/** This kernel's boot id, or undefined where /proc does not show it (not Linux). */
function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

/** This process's pid namespace, or undefined where /proc does not show it (not Linux). */
function pidNamespace(): string | undefined {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
}

/** When process `pid` started (clock ticks since boot), or undefined when it does not exist or /proc is absent. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses; the fields after its last ")" are plain.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/**
 * Waits between attempts to take a held lock: about 5 ms doubling to 100 ms, jittered by 0.5 to 1.5 times (a base of
 * half that, plus up to twice the base at random), so that processes waiting for one lock do not retry in step.
 */
const LOCK_POLL_BACKOFF: BackoffPolicy = { baseMs: 2.5, maxMs: 50, jitter: 2 };

/**
 * An advisory lock beside a file: `FILE.lock`, created with O_EXCL (`wx`) and holding the owner's pid, host, a
 * random token and the time. O_EXCL creation is atomic on local filesystems and on NFSv3+, which makes the lock
 * portable without native code (no flock in Node). The holder touches the lock's mtime while it holds it, so a
 * lock that stopped being touched (its holder died) or whose holder's pid is gone on this host is taken over.
 */
export async function acquireFileLock(file: string, options: FileLockOptions = {}): Promise<ReleaseLock> {
  const lockPath = `${file}.lock`;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    token: randomBytes(8).toString("hex"),
    acquiredAt: new Date().toISOString(),
    pidNamespace: pidNamespace(),
    startTime: processStartTime(process.pid),
    bootId: bootId(),
  };
  for (let attempt = 0; ; attempt++) {
    if (await tryCreate(lockPath, owner)) return holdLock(lockPath, owner, staleMs);
    const held = await readHolder(lockPath);
    if (held && (await isStale(lockPath, held.text, staleMs))) {
      await takeOver(lockPath, held.text);
      continue;
    }
    if (Date.now() >= deadline) throw lockedError(file, lockPath, held?.text);
    // Short, growing, jittered waits: holders keep the lock for milliseconds (one read-modify-write).
    await sleep(backoffMs(LOCK_POLL_BACKOFF, attempt + 1, realClock));
  }
}

async function tryCreate(lockPath: string, owner: LockOwner): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(lockPath, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw lockIoError(lockPath, error);
  }
  try {
    await handle.writeFile(JSON.stringify(owner), "utf8");
  } finally {
    await handle.close();
  }
  return true;
}

function holdLock(lockPath: string, owner: LockOwner, staleMs: number): ReleaseLock {
  // Touching keeps a live holder from looking stale during a slow step (a connectivity check inside the lock).
  const heartbeat = setInterval(
    () => {
      const now = new Date();
      utimes(lockPath, now, now).catch(() => undefined);
    },
    Math.max(staleMs / 3, 10),
  );
  heartbeat.unref();
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    clearInterval(heartbeat);
    const held = await readHolder(lockPath);
    if (held?.owner?.token === owner.token) await unlink(lockPath).catch(() => undefined);
  };
}

async function readHolder(lockPath: string): Promise<{ text: string; owner?: LockOwner } | undefined> {
  try {
    const text = await readFile(lockPath, "utf8");
    return { text, owner: parseOwner(text) };
  } catch {
    return undefined; // released meanwhile: the next attempt creates it
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    return typeof value.pid === "number" && typeof value.token === "string"
      ? (value as LockOwner)
      : undefined;
  } catch {
    return undefined; // being written right now, or garbage: only its age can tell
  }
}

async function isStale(lockPath: string, text: string, staleMs: number): Promise<boolean> {
  const owner = parseOwner(text);
  if (owner && holderIsGone(owner)) return true;
  try {
    const age = Date.now() - (await stat(lockPath)).mtimeMs;
    return age > (owner ? staleMs : Math.min(staleMs, UNWRITTEN_GRACE_MS));
  } catch {
    return false;
  }
}

/**
 * Whether the lock's holder certainly no longer runs. Only a holder in this pid namespace can be looked up: the
 * same host name is no proof (containers share one), and `kill(pid, 0)` across namespaces asks about another
 * process. A pid alive but started at another time was reused by a new process.
 */
function holderIsGone(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  if (owner.bootId !== undefined && owner.bootId !== bootId()) return false;
  // A lock written without a namespace (an older flowrun) keeps the host name and kill(pid, 0) test.
  if (owner.pidNamespace === undefined) return !processExists(owner.pid);
  if (owner.pidNamespace !== pidNamespace()) return false;
  const started = processStartTime(owner.pid);
  if (started === undefined) return !processExists(owner.pid);
  return owner.startTime !== undefined && started !== owner.startTime;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A takeover guard older than this belongs to a taker that died inside its few microseconds of work. */
const TAKEOVER_GUARD_STALE_MS = 2_000;

/**
 * Removes a stale lock without removing a fresh one. Waiters that judged the same lock stale take turns through a
 * guard file (`FILE.lock.takeover`, O_EXCL): the one holding it reads the lock again and removes it only if it is
 * still the stale text it judged. Without the guard, a slower taker could remove the lock a faster one had just
 * created, and two writers would hold it at once.
 */
async function takeOver(lockPath: string, staleText: string): Promise<void> {
  const guardPath = `${lockPath}.takeover`;
  let guard: Awaited<ReturnType<typeof open>>;
  try {
    guard = await open(guardPath, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw lockIoError(guardPath, error);
    const age = await stat(guardPath).then(
      (guardStat) => Date.now() - guardStat.mtimeMs,
      () => 0,
    );
    if (age > TAKEOVER_GUARD_STALE_MS) await unlink(guardPath).catch(() => undefined);
    return; // another waiter is taking it over: look at the lock again
  }
  try {
    const current = await readFile(lockPath, "utf8").catch(() => undefined);
    if (current === staleText) await unlink(lockPath).catch(() => undefined);
  } finally {
    await guard.close();
    await unlink(guardPath).catch(() => undefined);
  }
}

function lockedError(file: string, lockPath: string, text: string | undefined): ConnectorError {
  const owner = text === undefined ? undefined : parseOwner(text);
  const holder = owner
    ? `process ${owner.pid} on ${owner.host} (since ${owner.acquiredAt})`
    : "another process";
  return new ConnectorError(
    "store-locked",
    `${file} is being saved by ${holder}; nothing was written. Run the command again; if no flowrun process is ` +
      `saving it, delete ${lockPath}.`,
  );
}

function lockIoError(lockPath: string, error: unknown): ConnectorError {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  return new ConnectorError("connectors-file", `${lockPath}: cannot create the lock file (${code})`, {
    cause: error,
  });
}
