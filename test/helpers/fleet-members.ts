import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { bundleScript, runCliProcess } from "./processes.js";
import { TEST_TOKEN_KEY } from "./redis.js";

export interface MemberEvent {
  readonly event: string;
  readonly at: number;
  readonly [field: string]: unknown;
}

export interface Member {
  readonly child: ChildProcess;
  readonly events: MemberEvent[];
  /** Resolves with the first event (from now or earlier) that matches. */
  next(match: (event: MemberEvent) => boolean, timeoutMs?: number): Promise<MemberEvent>;
  send(line: string): void;
  exited: Promise<number | null>;
  kill(): void;
}

export interface MemberConfig {
  readonly redis?: { url: string; prefix: string };
  readonly connectors?: unknown;
  readonly flow: unknown;
  readonly mode: "once" | "loop" | "throughput" | "follow";
  readonly waitForGo?: boolean;
  readonly deadlineMs?: number;
  readonly pauseMs?: number;
  /** The fleet's choice for refresh-token connectors while Redis cannot be used (default `wait`). */
  readonly refreshWhileUnreachable?: "wait" | "refresh-locally";
}

const running = new Set<ChildProcess>();

/** Starts a member process; its stderr is kept for failure messages. */
export async function startMember(config: MemberConfig, env: NodeJS.ProcessEnv = {}): Promise<Member> {
  const member = await bundleScript("bench/fleet-member.js");
  const child = spawn(process.execPath, [member], {
    env: { ...process.env, FLOWRUN_TOKEN_KEY: TEST_TOKEN_KEY, ...env, FLEET_MEMBER: JSON.stringify(config) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  running.add(child);
  const events: MemberEvent[] = [];
  const waiters = new Set<() => void>();
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      events.push(JSON.parse(line) as MemberEvent);
    } catch {
      events.push({ event: "text", at: Date.now(), line });
    }
    for (const wake of [...waiters]) wake();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running.delete(child);
      for (const wake of [...waiters]) wake();
      resolve(code);
    }),
  );
  const next = (match: (event: MemberEvent) => boolean, timeoutMs = 30_000) =>
    new Promise<MemberEvent>((resolve, reject) => {
      const check = () => {
        const found = events.find(match);
        if (found) {
          cleanup();
          resolve(found);
        } else if (child.exitCode !== null) {
          cleanup();
          reject(
            new Error(
              `member exited (${child.exitCode}) before the event; events: ${JSON.stringify(events)}; stderr: ${stderr}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(`no such event in ${timeoutMs} ms; events: ${JSON.stringify(events)}; stderr: ${stderr}`),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return {
    child,
    events,
    next,
    send: (line) => child.stdin!.write(`${line}\n`),
    exited,
    kill: () => child.kill("SIGKILL"),
  };
}

/** Kills every member still running (afterEach). */
export function killMembers(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}

/** Runs the CLI (current source) as its own process, with the test token key. */
export function cliProcess(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCliProcess(args, { env: { FLOWRUN_TOKEN_KEY: TEST_TOKEN_KEY, ...env } });
}
