// Shared pieces of the benchmarks: the server process, a bounded-concurrency loop, medians.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

export async function startServer(env = {}) {
  const child = fork(fileURLToPath(new URL("./server.js", import.meta.url)), [], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await new Promise((resolve, reject) => {
    child.once("message", (message) => resolve(message.port));
    child.once("exit", (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    async stats() {
      const response = await fetch(`http://127.0.0.1:${port}/stats`);
      return response.json();
    },
    async reset() {
      await fetch(`http://127.0.0.1:${port}/reset`);
    },
    stop() {
      child.send("stop");
      child.disconnect();
    },
  };
}

/** Runs `task` `total` times with at most `concurrency` in flight; returns runs per second. */
export async function throughput(total, concurrency, task) {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      next++;
      await task();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return total / ((performance.now() - started) / 1000);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function gc() {
  if (typeof globalThis.gc !== "function") throw new Error("run with node --expose-gc");
  globalThis.gc();
  globalThis.gc();
}
