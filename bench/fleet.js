// `npm run bench:fleet`: many engine processes on one Redis. Needs a Redis (FLOWRUN_REDIS_URL,
// default redis://127.0.0.1:6379; keys under a prefix of its own, deleted at the end). Measures:
// 1. 4 processes on a cold shared cache: token requests (goal 1);
// 2. deactivation propagation to 4 following processes over 20 toggles: p50/p99 (goal p99 < 1 s, aim < 100 ms);
// 3. throughput of one process with a cached shared token against the in-process default (goal >= 0.95x);
// 4. an outage round (bench/outage.js, on a redis-server of its own): Redis stopped and restarted without its data
//    under a connector whose refresh token rotates at every use; runs completed afterwards and spent-token reuses.
// Prints a table and writes bench/results/fleet-latest.json.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { ConnectorRegistry, connectRedisFleet } from "../dist/index.js";
import { lookupFlow } from "./contenders.js";
import { median, percentile, startServer } from "./harness.js";
import { outageRound } from "./outage.js";

const REDIS_URL = process.env.FLOWRUN_REDIS_URL ?? "redis://127.0.0.1:6379";
const TOKEN_KEY = process.env.FLOWRUN_TOKEN_KEY ?? randomBytes(32).toString("base64");
const PREFIX = `flowrun-bench:${process.pid}:`;
const MEMBERS = 4;
const TOGGLES = 20;
const RUNS = Number(process.env.BENCH_FLEET_RUNS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const memberScript = fileURLToPath(new URL("./fleet-member.js", import.meta.url));

function connectorsDocument(origin) {
  return {
    connectors: [
      {
        id: "crm-bench",
        name: "CRM",
        type: "custom",
        status: "active",
        resourceDomainUrl: origin,
        auth: {
          type: "oauth2",
          grantType: "client_credentials",
          clientAuth: "basic",
          clientId: "bench",
          clientSecret: "bench-secret",
          tokenUrl: `${origin}/oauth/token`,
        },
      },
    ],
  };
}

/** A member process; `events` fill as it reports; `next(match)` waits for a matching event. */
function member(config) {
  const child = spawn(process.execPath, [memberScript], {
    env: { ...process.env, FLOWRUN_TOKEN_KEY: TOKEN_KEY, FLEET_MEMBER: JSON.stringify(config) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const events = [];
  const waiters = new Set();
  createInterface({ input: child.stdout }).on("line", (line) => {
    events.push(JSON.parse(line));
    for (const wake of [...waiters]) wake();
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const next = (match, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`member: no matching event in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const check = () => {
        const found = events.find(match);
        if (!found) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      check();
    });
  return { child, events, next, exited, send: (line) => child.stdin.write(`${line}\n`) };
}

async function coldStampede(server, admin) {
  await server.reset();
  await admin.store.importDocument(connectorsDocument(server.origin), { replace: true });
  const group = Array.from({ length: MEMBERS }, () =>
    member({ redis: { url: REDIS_URL, prefix: PREFIX }, flow: lookupFlow, mode: "once", waitForGo: true }),
  );
  await Promise.all(group.map((m) => m.next((e) => e.event === "ready")));
  for (const m of group) m.send("go");
  const results = await Promise.all(group.map((m) => m.next((e) => e.event === "result")));
  await Promise.all(group.map((m) => m.exited));
  const completed = results.filter((r) => r.status === "completed").length;
  return { processes: MEMBERS, completed, tokenRequests: (await server.stats()).tokenRequests };
}

async function propagation(server, admin) {
  await admin.store.importDocument(connectorsDocument(server.origin), { replace: true });
  const registry = await ConnectorRegistry.open(admin.store, {
    role: "full-admin",
    allowLoopbackHttp: true,
    follow: false,
  });
  const group = Array.from({ length: MEMBERS }, () =>
    member({ redis: { url: REDIS_URL, prefix: PREFIX }, flow: lookupFlow, mode: "follow" }),
  );
  await Promise.all(group.map((m) => m.next((e) => e.event === "ready")));
  const delays = [];
  for (let toggle = 0; toggle < TOGGLES; toggle++) {
    const deactivate = toggle % 2 === 0;
    const kind = deactivate ? "deactivated" : "reactivated";
    const seen = group.map((m) => changesOf(m, kind).length);
    const before = Date.now();
    await (deactivate ? registry.deactivate("CRM") : registry.reactivate("CRM"));
    const arrivals = await Promise.all(
      group.map((m, i) => m.next((e) => changesOf(m, kind).indexOf(e) === seen[i])),
    );
    for (const arrival of arrivals) delays.push(arrival.at - before);
  }
  for (const m of group) m.child.stdin.end();
  await Promise.all(group.map((m) => m.exited));
  await registry.close?.();
  return {
    processes: MEMBERS,
    toggles: TOGGLES,
    p50Ms: median(delays),
    p99Ms: percentile(delays, 99),
    maxMs: Math.max(...delays),
  };
}

/** The `kind` change events a member reported, in order (the n-th toggle of a kind causes the n-th event). */
function changesOf(m, kind) {
  return m.events.filter((e) => e.event === "change" && e.kind === kind);
}

async function throughputRatio(server, admin) {
  const document = connectorsDocument(server.origin);
  await admin.store.importDocument(document, { replace: true });
  const once = async (config) => {
    const m = member({ ...config, flow: lookupFlow, mode: "throughput", runs: RUNS, concurrency: 32 });
    const result = await m.next((e) => e.event === "throughput", 120_000);
    await m.exited;
    if (result.failed > 0) throw new Error(`${result.failed} runs failed`);
    return result.runsPerSecond;
  };
  const shared = [];
  const local = [];
  // Alternating rounds, so that load from other work on the machine hits both alike.
  for (let round = 0; round < ROUNDS; round++) {
    local.push(await once({ connectors: document }));
    shared.push(await once({ redis: { url: REDIS_URL, prefix: PREFIX } }));
  }
  return {
    runs: RUNS,
    rounds: ROUNDS,
    inProcessRunsPerSecond: Math.round(median(local)),
    sharedRunsPerSecond: Math.round(median(shared)),
    ratio: Number((median(shared) / median(local)).toFixed(3)),
    roundRatios: shared.map((value, round) => Number((value / local[round]).toFixed(3))),
  };
}

const server = await startServer();
const admin = await connectRedisFleet({
  url: REDIS_URL,
  keyPrefix: PREFIX,
  tokenKey: TOKEN_KEY,
  allowLoopbackHttp: true,
});
process.env.FLOWRUN_TOKEN_KEY = TOKEN_KEY;
try {
  const cold = await coldStampede(server, admin);
  const deactivation = await propagation(server, admin);
  const throughput = await throughputRatio(server, admin);
  const outage = await outageRound({ member, connectRedisFleet, Redis });
  const results = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    command: "npm run bench:fleet",
    redis: REDIS_URL.replace(/:[^:@/]*@/, ":***@"),
    coldStampede: cold,
    deactivationPropagation: deactivation,
    throughput,
    outage,
  };
  console.log(`flowrun fleet benchmark, ${results.date}, ${results.machine}`);
  console.log(
    `cold shared cache: ${cold.processes} processes, ${cold.completed} runs completed, ${cold.tokenRequests} token request(s) (goal 1)`,
  );
  console.log(
    `deactivation propagation: ${deactivation.processes} processes x ${deactivation.toggles} toggles: p50 ${deactivation.p50Ms} ms, p99 ${deactivation.p99Ms} ms, max ${deactivation.maxMs} ms (goal p99 < 1000, aim < 100)`,
  );
  console.log(
    `throughput, cached token: in-process default ${throughput.inProcessRunsPerSecond} runs/s, Redis fleet ${throughput.sharedRunsPerSecond} runs/s: ${throughput.ratio}x (goal >= 0.95); per round ${throughput.roundRatios.join(", ")}`,
  );
  console.log(
    `outage (rotating refresh token): ${outage.members} processes, Redis stopped ${outage.outageMs} ms and restarted without its data: runs completed per process within 2 token lifetimes after the restart ${outage.completedAfterRestartPerMember.join(", ")} (goal > 0 each); ${outage.refreshRequests} refresh requests, ${outage.refusedRefreshes} refused, ${outage.spentTokenReuses} reuses of a spent token (goal 0)`,
  );
  await mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await writeFile(
    new URL("./results/fleet-latest.json", import.meta.url),
    `${JSON.stringify(results, null, 2)}\n`,
  );
} finally {
  const keys = await admin.connection.commands.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.connection.commands.del(...keys);
  await admin.close();
  server.stop();
}
