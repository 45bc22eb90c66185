import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/**
 * Real processes for cross-process tests, running the current source: each script (the CLI, or a small embedding
 * script) is bundled with esbuild in a fraction of a second, so tests never run a stale `dist/`. Bundles go under
 * node_modules/.cache so that their package imports resolve to the project's node_modules.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const cacheDir = path.join(root, "node_modules", ".cache", "flowrun-test", `${process.pid}`);
const bundles = new Map<string, Promise<string>>();
const running = new Set<ChildProcess>();

process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
  rmSync(cacheDir, { recursive: true, force: true });
});

/**
 * The bench scripts import the built package (`../dist/index.js`); bundled for a test they get the source instead,
 * so one script serves the benchmark and the tests.
 */
const distToSource = {
  name: "dist-to-source",
  setup(plugin: { onResolve(options: { filter: RegExp }, callback: () => { path: string }): void }) {
    plugin.onResolve({ filter: /^\.\.\/dist\/index\.js$/ }, () => ({
      path: path.join(root, "src/index.ts"),
    }));
  },
};

/** Bundles a TypeScript entry file (path relative to the project root) into a runnable ESM file; cached. */
export function bundleScript(entry: string): Promise<string> {
  let bundled = bundles.get(entry);
  if (!bundled) {
    const outfile = path.join(cacheDir, `${path.basename(entry).replace(/\.[jt]s$/, "")}.mjs`);
    mkdirSync(cacheDir, { recursive: true });
    bundled = build({
      plugins: entry.startsWith("bench/") ? [distToSource] : [],
      entryPoints: [path.join(root, entry)],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      logLevel: "error",
    }).then(() => outfile);
    bundles.set(entry, bundled);
  }
  return bundled;
}

export interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when a stdout line satisfies `predicate` (rejects if the process exits first). */
  waitForLine(predicate: (line: string) => boolean): Promise<string>;
  readonly exited: Promise<Exited>;
}

/** Where a process runs, its environment beside the test's, and what it reads on stdin (nothing by default). */
export interface ProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdin?: string;
}

/** Starts `node SCRIPT ...args`; killed at the end of the test process if still running. */
export function startNode(
  script: string,
  args: readonly string[],
  options: ProcessOptions = {},
): RunningProcess {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: "1", ...options.env },
    stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  child.stdin?.end(options.stdin);
  running.add(child);
  let stdout = "";
  let stderr = "";
  const lineWaiters = new Set<{ predicate: (line: string) => boolean; resolve: (line: string) => void }>();
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    const before = stdout.length;
    stdout += chunk;
    const start = stdout.lastIndexOf("\n", before - 1) + 1;
    const lines = stdout.slice(start).split("\n").slice(0, -1);
    for (const line of lines)
      for (const waiter of [...lineWaiters])
        if (waiter.predicate(line)) {
          lineWaiters.delete(waiter);
          waiter.resolve(line);
        }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<Exited>((resolve) => {
    child.on("close", (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForLine: (predicate) =>
      new Promise<string>((resolve, reject) => {
        const waiter = { predicate, resolve };
        lineWaiters.add(waiter);
        void exited.then(({ code }) => {
          if (lineWaiters.delete(waiter))
            reject(new Error(`process exited (${code}) before the expected line; stderr: ${stderr}`));
        });
      }),
  };
}

/** Runs the CLI (current source) as its own process and waits for it to exit. */
export async function runCliProcess(args: readonly string[], options: ProcessOptions = {}): Promise<Exited> {
  return startNode(await cliScript(), args, options).exited;
}

/** The CLI bundled from src/cli (see bundleScript). */
export function cliScript(): Promise<string> {
  return bundleScript("test/helpers/cli-entry.ts");
}
