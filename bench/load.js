// `npm run load`: 2,000 concurrent runs for LOAD_SECONDS (default 30) against the bench server in its own process,
// through an OAuth connector, on the /flaky/ route (1 % errors or dropped connections, 1 % slow answers). Counts
// runs by status (1 in 200 runs names an inactive connector and halts, 1 in 100 is aborted by its host after 50 ms,
// a failed request ends the run failed), latency percentiles, heap before and after, and unhandled rejections; prints a table and exits 1
// when the counts do not add up, a run threw, or a rejection went unhandled. Not part of `npm test`.
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { connectorHandle } from "../dist/connectors/connector-handle.js";
import { TokenCache } from "../dist/connectors/token-cache.js";
import { createEngine } from "../dist/index.js";
import { lookupFlow, oauthProfile } from "./contenders.js";
import { percentile, startServer } from "./harness.js";

const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 2000);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 30);
/** A generous run deadline: runs queue for connections under this load, and that is not a failure. */
const RUN_DEADLINE_MS = 10_000;
/** One run in HANG_UP_EVERY is aborted by its host (the caller hangs up) after HANG_UP_AFTER_MS. */
const HANG_UP_EVERY = 100;
const HANG_UP_AFTER_MS = 50;
/** One run in HALT_EVERY names the inactive connector and ends `halted`. */
const HALT_EVERY = 200;

let unhandledRejections = 0;
let uncaughtExceptions = 0;
process.on("unhandledRejection", () => {
  unhandledRejections++;
});
process.on("uncaughtException", (error) => {
  uncaughtExceptions++;
  process.exitCode = 1;
  process.stderr.write(`uncaught exception: ${error?.stack ?? error}\n`);
});

/** The bench's lookup flow against the flaky route; error and timeout stay unlinked: a failed request fails the run. */
function flowFor(connector) {
  const flow = structuredClone(lookupFlow);
  flow.name = `load-${connector}`;
  Object.assign(flow.activities.lookup, { connector, requestPath: "/flaky/accounts", timeoutMs: 3000 });
  return flow;
}

/** CRM (active, OAuth client credentials) and Old (inactive: runs naming it halt), sharing one token cache. */
function resolver(origin) {
  const cache = new TokenCache();
  const handles = new Map([
    ["CRM", connectorHandle(oauthProfile("crm-1", "CRM", "active", origin), cache)],
    ["Old", connectorHandle(oauthProfile("old-1", "Old", "inactive", origin), cache)],
  ]);
  return { resolve: (name) => handles.get(name) };
}

const heapMiB = () => process.memoryUsage().heapUsed / 1024 / 1024;
const settleGc = () => {
  if (typeof globalThis.gc === "function") {
    globalThis.gc();
    globalThis.gc();
  }
};

const server = await startServer();
try {
  const engine = createEngine({ connectors: resolver(server.origin), allowLoopbackHttp: true });
  const crm = engine.compile(flowFor("CRM"));
  const old = engine.compile(flowFor("Old"));
  settleGc();
  const heapBefore = heapMiB();
  const counts = { started: 0, completed: 0, failed: 0, halted: 0, aborted: 0, threw: 0 };
  const reasons = {};
  const latencies = [];
  let peakHeap = heapBefore;
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, heapMiB());
  }, 250);
  const stopAt = performance.now() + SECONDS * 1000;
  const worker = async (index) => {
    let n = 0;
    while (performance.now() < stopAt) {
      n++;
      counts.started++;
      const flow = (index + n) % HALT_EVERY === 0 ? old : crm;
      const hangUp =
        (index * 7 + n) % HANG_UP_EVERY === 0 ? AbortSignal.timeout(HANG_UP_AFTER_MS) : undefined;
      const started = performance.now();
      try {
        const result = await flow.run({
          contact: { ani: `+1555${String(index).padStart(7, "0")}` },
          deadlineMs: RUN_DEADLINE_MS,
          signal: hangUp,
        });
        counts[result.status]++;
        if (result.reason) reasons[result.reason] = (reasons[result.reason] ?? 0) + 1;
      } catch (error) {
        counts.threw++;
        process.stderr.write(`run threw: ${error?.stack ?? error}\n`);
      }
      latencies.push(performance.now() - started);
    }
  };
  const wall = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, index) => worker(index)));
  const elapsed = (performance.now() - wall) / 1000;
  clearInterval(sampler);
  await engine.close();
  const stats = await server.stats();
  settleGc();
  const heapAfter = heapMiB();
  const ended = counts.completed + counts.failed + counts.halted + counts.aborted + counts.threw;
  const addsUp = ended === counts.started;
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}`,
    concurrency: CONCURRENCY,
    seconds: Number(elapsed.toFixed(1)),
    counts,
    reasons,
    runsPerSecond: Math.round(counts.started / elapsed),
    latencyMs: {
      p50: Number(percentile(latencies, 50).toFixed(1)),
      p99: Number(percentile(latencies, 99).toFixed(1)),
      max: Number(latencies.reduce((a, b) => Math.max(a, b), 0).toFixed(1)),
    },
    heapMiB: {
      before: Number(heapBefore.toFixed(1)),
      peak: Number(peakHeap.toFixed(1)),
      after: Number(heapAfter.toFixed(1)),
      gc: typeof globalThis.gc === "function",
    },
    server: stats,
    unhandledRejections,
    uncaughtExceptions,
    addsUp,
  };
  const rows = [
    ["concurrent runs", String(CONCURRENCY)],
    ["duration", `${results.seconds} s`],
    ["runs started", String(counts.started)],
    ["  completed", String(counts.completed)],
    [
      "  failed",
      `${counts.failed}  ${JSON.stringify(Object.fromEntries(Object.entries(reasons).filter(([r]) => r === "unhandled-outcome")))}`,
    ],
    ["  halted", String(counts.halted)],
    ["  aborted", String(counts.aborted)],
    ["  threw (must be 0)", String(counts.threw)],
    ["counts add up", addsUp ? "yes" : "NO"],
    ["throughput", `${results.runsPerSecond} runs/s`],
    [
      "latency p50 / p99 / max",
      `${results.latencyMs.p50} / ${results.latencyMs.p99} / ${results.latencyMs.max} ms`,
    ],
    [
      "heap before / peak / after",
      `${results.heapMiB.before} / ${results.heapMiB.peak} / ${results.heapMiB.after} MiB`,
    ],
    ["token requests", String(stats.tokenRequests)],
    ["server: API requests", String(stats.apiRequests)],
    [
      "server: 500s / dropped / slow",
      `${stats.flaky.errors} / ${stats.flaky.destroyed} / ${stats.flaky.slow}`,
    ],
    ["unhandled rejections", String(unhandledRejections)],
    ["uncaught exceptions", String(uncaughtExceptions)],
  ];
  const width = Math.max(...rows.map((row) => row[0].length));
  process.stdout.write(`flowrun load — ${results.date} — Node ${results.node} — ${results.machine}\n\n`);
  for (const [name, value] of rows) process.stdout.write(`${name.padEnd(width)}  ${value}\n`);
  await mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await writeFile(
    new URL("./results/load-latest.json", import.meta.url),
    `${JSON.stringify(results, null, 2)}\n`,
  );
  if (!addsUp || counts.threw > 0 || unhandledRejections > 0 || uncaughtExceptions > 0) process.exitCode = 1;
} finally {
  server.stop();
}
