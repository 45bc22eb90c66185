import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { TEST_TOKEN_KEY } from "./redis.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const outDir = path.join(root, "node_modules/.cache/flowrun-fleet-tests");

let bundled: Promise<{ member: string; cli: string }> | undefined;

/**
 * The member script (bench/fleet-member.js) and the CLI, bundled from src/ (not dist/): cross-process tests test
 * the source. Dependencies stay external and resolve from node_modules.
 */
export function bundles(): Promise<{ member: string; cli: string }> {
  bundled ??= (async () => {
    mkdirSync(outDir, { recursive: true });
    const common = {
      bundle: true,
      platform: "node" as const,
      format: "esm" as const,
      target: "node20",
      packages: "external" as const,
      logLevel: "silent" as const,
    };
    const member = path.join(outDir, "member.mjs");
    const cli = path.join(outDir, "cli.mjs");
    await Promise.all([
      build({
        ...common,
        entryPoints: [path.join(root, "bench/fleet-member.js")],
        outfile: member,
        plugins: [
          {
            name: "source-instead-of-dist",
            setup(plugin) {
              plugin.onResolve({ filter: /^\.\.\/dist\/index\.js$/ }, () => ({
                path: path.join(root, "src/index.ts"),
              }));
            },
          },
        ],
      }),
      build({
        ...common,
        stdin: {
          contents: `import { runCli } from ${JSON.stringify(path.join(root, "src/cli/main.ts"))};\nprocess.exitCode = await runCli(process.argv.slice(2));\n`,
          resolveDir: root,
          loader: "ts",
        },
        outfile: cli,
      }),
    ]);
    return { member, cli };
  })();
  return bundled;
}

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
}

const running = new Set<ChildProcess>();

/** Starts a member process; its stderr is kept for failure messages. */
export async function startMember(config: MemberConfig, env: NodeJS.ProcessEnv = {}): Promise<Member> {
  const { member } = await bundles();
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

export interface CliProcess {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI (bundled from src/) as its own process. */
export async function cliProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliProcess> {
  const { cli } = await bundles();
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, FLOWRUN_TOKEN_KEY: TEST_TOKEN_KEY, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  running.delete(child);
  return { code, stdout, stderr };
}
