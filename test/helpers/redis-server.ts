import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis, type RedisOptions } from "ioredis";
import { closedPort } from "./token-server.js";

/**
 * redis-server processes of the tests' own, on free loopback ports, without persistence unless a test asks for it:
 * a plain Redis that a fault test kills and restarts (`ownRedis`), and the servers of the deployments in
 * redis-deployments.ts. `stopRedisServers` kills every one still running and removes their folders.
 */

const servers = new Set<ChildProcess>();
const dirs: string[] = [];

/** No persistence, loopback only. */
export const BASE_ARGS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"] as const;

/** Whether fault tests can start a redis-server of their own (required with CI=true, like Redis itself). */
export function redisServerInstalled(file: string): boolean {
  if (spawnSync("redis-server", ["--version"]).status === 0) return true;
  if (process.env.CI === "true")
    throw new Error("CI=true but redis-server is not installed; the fault tests must run in CI");
  console.warn(`skipping ${file}: redis-server is not installed`);
  return false;
}

/** A temporary folder for a server's files, removed by `stopRedisServers`. */
export function redisTempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "flowrun-redis-"));
  dirs.push(dir);
  return dir;
}

/** Starts `redis-server args…` (in `cwd`, or in this process's folder); tracked until it exits. */
export function spawnRedisServer(args: readonly string[], cwd?: string): ChildProcess {
  const child = spawn("redis-server", [...args], { cwd, stdio: "ignore" });
  servers.add(child);
  child.on("exit", () => servers.delete(child));
  return child;
}

/** Waits until the server at `port` answers PING (20 s by default: two cores shared with other test runs). */
export async function waitForPing(
  port: number,
  options: RedisOptions = {},
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis({
      host: "127.0.0.1",
      port,
      lazyConnect: true,
      retryStrategy: () => null,
      connectTimeout: 500,
      maxRetriesPerRequest: 0,
      ...options,
    });
    probe.on("error", () => {});
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      probe.disconnect();
    }
  }
}

/** Kills `child` with SIGKILL (no chance to save) and waits for it to exit. */
export function killRedisServer(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** Kills every server started here and removes their folders. */
export async function stopRedisServers(): Promise<void> {
  await Promise.all([...servers].map(killRedisServer));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A plain Redis; its port. */
export async function startPlainRedis(extra: readonly string[] = []): Promise<number> {
  const port = await closedPort();
  spawnRedisServer(["--port", String(port), ...BASE_ARGS, ...extra], redisTempDir());
  await waitForPing(port);
  return port;
}

/** A redis-server of the test's own (no persistence), on a free port; kill and restart it to simulate faults. */
export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  start(): Promise<void>;
  kill(): Promise<void>;
}

/** `extraArgs`: more redis-server options (`--dir`, `--dbfilename` for a test that restarts Redis with its data). */
export async function ownRedis(extraArgs: readonly string[] = []): Promise<OwnRedis> {
  const port = await closedPort();
  let child: ChildProcess | undefined;
  const own: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawnRedisServer([
        "--port",
        String(port),
        ...BASE_ARGS,
        "--enable-debug-command",
        "yes",
        ...extraArgs,
      ]);
      await waitForPing(port, { connectTimeout: 200 }, 5000);
    },
    async kill() {
      const running = child;
      child = undefined;
      if (running) await killRedisServer(running);
    },
  };
  await own.start();
  return own;
}
