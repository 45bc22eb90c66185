// `npm run bench`: flowrun against a hand-written undici loop (the limit) and what a user writes instead
// (fetch + jsonpath-plus), side by side against one loopback server process; the same for a second flow (two calls,
// the second a POST with a templated JSON body); then the interpreter alone, a cold
// token stampede, and heap per in-flight run. Prints one table and writes bench/results/latest.json.
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { JSONPath } from "jsonpath-plus";
import { Agent, request } from "undici";
import { createEngine } from "../dist/index.js";
import { crmResolver, interactionFlow, lookupFlow } from "./contenders.js";
import { gc, median, startServer, throughput } from "./harness.js";

const CONCURRENCY = 64;
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const STAMPEDE = 1000;
const IN_FLIGHT = 10_000;

/** The limit of the interaction flow: the same two exchanges, hand-written. */
function interactionLimit(server, agent) {
  const lookupUrl = `${server.origin}/api/accounts?phone=%2B15551234567`;
  const logUrl = `${server.origin}/api/interactions`;
  return async () => {
    const found = await request(lookupUrl, { dispatcher: agent, headers: { authorization: "Bearer x" } });
    const account = JSON.parse(await found.body.text()).accounts[0];
    if (!account.id || account.vip === undefined) throw new Error("bad answer");
    const logged = await request(logUrl, {
      dispatcher: agent,
      method: "POST",
      headers: { authorization: "Bearer x", "content-type": "application/json" },
      body: JSON.stringify({
        accountId: account.id,
        ani: "+15551234567",
        vip: account.vip,
        channel: "voice",
      }),
    });
    if (!JSON.parse(await logged.body.text()).id) throw new Error("bad answer");
  };
}

/**
 * Runs/s of each contender, rounds interleaved (order alternating), medians. Also the CPU time of this process per
 * run: on a machine shared with other work, runs/s move with the neighbours' load while CPU per run barely does.
 */
async function compare(contenders, runsPerRound = REQUESTS) {
  for (const task of Object.values(contenders)) await throughput(2000, CONCURRENCY, task); // warm-up
  const names = Object.keys(contenders);
  const samples = Object.fromEntries(names.map((name) => [name, { perSecond: [], cpuUs: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const cpu = process.cpuUsage();
      samples[name].perSecond.push(await throughput(runsPerRound, CONCURRENCY, contenders[name]));
      const used = process.cpuUsage(cpu);
      samples[name].cpuUs.push((used.user + used.system) / runsPerRound);
    }
  }
  const medians = (key) => Object.fromEntries(names.map((name) => [name, median(samples[name][key])]));
  return { perSecond: medians("perSecond"), cpuUsPerRun: medians("cpuUs"), rounds: samples };
}

async function httpThroughput(server) {
  const url = `${server.origin}/api/accounts?phone=%2B15551234567`;
  const agent = new Agent({ connections: CONCURRENCY, pipelining: 1 });
  const limit = async () => {
    const response = await request(url, { dispatcher: agent, headers: { authorization: "Bearer x" } });
    const json = JSON.parse(await response.body.text());
    const account = json.accounts[0];
    if (!account.id || account.vip === undefined || account.balance === undefined)
      throw new Error("bad answer");
  };
  const paths = ["$.accounts[0].id", "$.accounts[0].vip", "$.accounts[0].balance"];
  const typical = async () => {
    const response = await fetch(url, { headers: { authorization: "Bearer x" } });
    const json = await response.json();
    for (const path of paths) JSONPath({ path, json, wrap: false });
  };
  // The same pool size as the limit's Agent: same server, same concurrency, same connections.
  const engine = createEngine({
    connectors: crmResolver(server.origin),
    allowLoopbackHttp: true,
    connectionsPerOrigin: CONCURRENCY,
  });
  const contact = { ani: "+15551234567" };
  const runner = (flow) => async () => {
    const result = await flow.run({ contact });
    if (result.status !== "completed") throw new Error(`run ${result.status}: ${result.error?.message}`);
  };
  const flowrun = runner(engine.compile(lookupFlow));
  await flowrun(); // a cached token, as the budget says
  const lookup = await compare({ limit, typical, flowrun });
  // Two requests a run: half the runs, the same number of requests per round.
  const interaction = await compare(
    { limit: interactionLimit(server, agent), flowrun: runner(engine.compile(interactionFlow)) },
    REQUESTS / 2,
  );
  await engine.close();
  await agent.close();
  return { lookup, interaction };
}

async function interpreterOnly() {
  const engine = createEngine({ maxSteps: 1_000_000 });
  const flow = engine.compile({
    name: "bench-interpreter",
    variables: {
      n: { type: "integer", default: 0 },
      tier: { type: "string", default: "gold" },
      label: { type: "string" },
    },
    start: "bump",
    activities: {
      bump: {
        type: "set-variable",
        assignments: [{ variable: "n", value: "{{ n | plus: 1 }}" }],
        next: { default: "check" },
      },
      check: { type: "condition", expression: "n < 50", next: { true: "route", false: "done" } },
      route: {
        type: "case",
        expression: "tier",
        cases: { gold: "setLabel", silver: "bump" },
        next: { default: "bump" },
      },
      setLabel: {
        type: "set-variable",
        assignments: [{ variable: "label", value: "tier {{ tier }}" }],
        next: { default: "bump" },
      },
      done: { type: "end-flow" },
    },
  });
  for (let i = 0; i < 2000; i++) await flow.run();
  const samples = [];
  for (let round = 0; round < ROUNDS; round++) {
    let activities = 0;
    const started = performance.now();
    while (performance.now() - started < 1000) activities += (await flow.run()).path.length;
    samples.push(activities / ((performance.now() - started) / 1000));
  }
  await engine.close();
  return median(samples);
}

async function coldStampede(server) {
  await server.reset();
  const engine = createEngine({ connectors: crmResolver(server.origin), allowLoopbackHttp: true });
  const flow = engine.compile(lookupFlow);
  const contact = { ani: "+15551234567" };
  const timed = async () => {
    const started = performance.now();
    const result = await flow.run({ contact });
    if (result.status !== "completed") throw new Error(`run ${result.status}: ${result.error?.message}`);
    return performance.now() - started;
  };
  const cold = await Promise.all(Array.from({ length: STAMPEDE }, timed));
  const { tokenRequests } = await server.stats();
  const warm = await Promise.all(Array.from({ length: STAMPEDE }, timed));
  await engine.close();
  return {
    tokenRequests,
    coldP50: median(cold),
    warmP50: median(warm),
    addedP50: median(cold) - median(warm),
  };
}

async function heapPerRun(server) {
  const engine = createEngine({ connectors: crmResolver(server.origin), allowLoopbackHttp: true });
  const slowFlow = structuredClone(lookupFlow);
  slowFlow.activities.lookup.requestPath = "/slow/accounts";
  slowFlow.activities.lookup.timeoutMs = 30_000;
  const flow = engine.compile(slowFlow);
  await flow.run({ contact: { ani: "1" } }); // token cached, pools open
  gc();
  const before = process.memoryUsage().heapUsed;
  const host = new AbortController();
  const runs = Array.from({ length: IN_FLIGHT }, (_, i) =>
    flow.run({ contact: { ani: String(i) }, signal: host.signal }),
  );
  await new Promise((resolve) => setTimeout(resolve, 500)); // every run is waiting: on the 1 s server or for a pooled connection
  gc();
  const during = process.memoryUsage().heapUsed;
  host.abort(); // the figure is taken; the host hangs up on all of them
  const results = await Promise.all(runs);
  await engine.close();
  const aborted = results.filter((r) => r.status === "aborted").length;
  return { perRunBytes: (during - before) / IN_FLIGHT, aborted };
}

const loadAtStart = os.loadavg();
const server = await startServer();
const slowServer = await startServer({ SLOW_MS: "1000" });
try {
  const { lookup, interaction: interactionSamples } = await httpThroughput(server);
  const http = lookup.perSecond;
  const interaction = interactionSamples.perSecond;
  const activitiesPerSecond = await interpreterOnly();
  const stampede = await coldStampede(server);
  const memory = await heapPerRun(slowServer);
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}`,
    concurrency: CONCURRENCY,
    requestsPerRound: REQUESTS,
    rounds: ROUNDS,
    loadAverage: { atStart: loadAtStart, atEnd: os.loadavg() },
    runsPerSecond: http,
    cpuMicrosecondsPerRun: lookup.cpuUsPerRun,
    roundSamples: lookup.rounds,
    ratios: {
      flowrunToLimit: http.flowrun / http.limit,
      flowrunToTypical: http.flowrun / http.typical,
      interactionFlowrunToLimit: interaction.flowrun / interaction.limit,
    },
    interactionRunsPerSecond: interaction,
    interactionCpuMicrosecondsPerRun: interactionSamples.cpuUsPerRun,
    interactionRoundSamples: interactionSamples.rounds,
    interpreterActivitiesPerSecond: activitiesPerSecond,
    stampede,
    memory,
  };
  const cpu = lookup.cpuUsPerRun;
  const interactionCpu = interactionSamples.cpuUsPerRun;
  const rows = [
    ["limit: undici.request + JSON.parse", `${Math.round(http.limit)} runs/s`, "1.00×"],
    [
      "typical: fetch + jsonpath-plus",
      `${Math.round(http.typical)} runs/s`,
      `${(http.typical / http.limit).toFixed(2)}×`,
    ],
    [
      "flowrun: compiled flow, cached OAuth token",
      `${Math.round(http.flowrun)} runs/s`,
      `${results.ratios.flowrunToLimit.toFixed(2)}× (budget ≥ 0.85×)`,
    ],
    ["flowrun / typical", "", `${results.ratios.flowrunToTypical.toFixed(2)}×`],
    [
      "  CPU per run: limit / flowrun",
      `${cpu.limit.toFixed(1)} / ${cpu.flowrun.toFixed(1)} µs`,
      `${(cpu.limit / cpu.flowrun).toFixed(2)}× (limit's CPU / flowrun's)`,
    ],
    ["interaction flow (2 calls, POST JSON): limit", `${Math.round(interaction.limit)} runs/s`, "1.00×"],
    [
      "interaction flow: flowrun",
      `${Math.round(interaction.flowrun)} runs/s`,
      `${results.ratios.interactionFlowrunToLimit.toFixed(2)}×`,
    ],
    [
      "  CPU per run: limit / flowrun",
      `${interactionCpu.limit.toFixed(1)} / ${interactionCpu.flowrun.toFixed(1)} µs`,
      `${(interactionCpu.limit / interactionCpu.flowrun).toFixed(2)}× (limit's CPU / flowrun's)`,
    ],
    ["interpreter only (one core)", `${Math.round(activitiesPerSecond)} activities/s`, "budget ≥ 500,000"],
    [`cold stampede: ${STAMPEDE} runs`, `${stampede.tokenRequests} token request(s)`, "budget = 1"],
    [
      "  p50 latency cold / warm",
      `${stampede.coldP50.toFixed(1)} / ${stampede.warmP50.toFixed(1)} ms`,
      `+${stampede.addedP50.toFixed(1)} ms`,
    ],
    [
      `heap per in-flight run (${IN_FLIGHT})`,
      `${(memory.perRunBytes / 1024).toFixed(2)} KiB`,
      "budget < 10 KiB",
    ],
  ];
  const width = Math.max(...rows.map((row) => row[0].length));
  const valueWidth = Math.max(...rows.map((row) => row[1].length));
  process.stdout.write(`flowrun bench — ${results.date} — Node ${results.node} — ${results.machine}\n`);
  process.stdout.write(
    `concurrency ${CONCURRENCY}, ${REQUESTS} requests × ${ROUNDS} rounds, medians; load average ${os
      .loadavg()
      .map((value) => value.toFixed(2))
      .join(" ")}\n\n`,
  );
  for (const [name, value, note] of rows)
    process.stdout.write(`${name.padEnd(width)}  ${value.padStart(valueWidth)}  ${note}\n`);
  await mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await writeFile(new URL("./results/latest.json", import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
} finally {
  server.stop();
  slowServer.stop();
}
