// One fleet member process for `npm run bench:fleet` and the cross-process tests (which bundle this file against
// src/ instead of dist/). Configured by the FLEET_MEMBER environment variable (JSON); speaks JSON lines on stdout.
// Reads "go" on stdin before working when `waitForGo` is set, so that many members start at the same moment.
import { createInterface } from "node:readline";
import { ConnectorRegistry, connectRedisFleet, createEngine, MemoryConnectorStore } from "../dist/index.js";

const config = JSON.parse(process.env.FLEET_MEMBER ?? "{}");
const say = (event) => process.stdout.write(`${JSON.stringify({ ...event, at: Date.now() })}\n`);
process.on("unhandledRejection", (reason) => {
  say({ event: "unhandled", message: String(reason?.message ?? reason) });
  process.exit(70);
});

const lines = createInterface({ input: process.stdin });
const commands = [];
let waiting;
lines.on("line", (line) => {
  if (waiting) waiting(line.trim());
  else commands.push(line.trim());
});
const nextCommand = () =>
  commands.length > 0
    ? Promise.resolve(commands.shift())
    : new Promise((resolve) => {
        waiting = (line) => {
          waiting = undefined;
          resolve(line);
        };
      });
const stdinClosed = new Promise((resolve) => lines.on("close", resolve));

const fleet = config.redis
  ? await connectRedisFleet({
      url: config.redis.url,
      keyPrefix: config.redis.prefix,
      allowLoopbackHttp: true,
      refreshWhileUnreachable: config.refreshWhileUnreachable,
      onWarning: (message) => say({ event: "warning", message }),
    })
  : undefined;
const store =
  fleet?.store ?? new MemoryConnectorStore(config.connectors, process.cwd(), { allowLoopbackHttp: true });
const registry = await ConnectorRegistry.open(store, { allowLoopbackHttp: true });
registry.on("change", ({ kind, connector }) => say({ event: "change", kind, name: connector.name }));
const engine = createEngine({
  connectors: registry,
  sharedTokens: fleet?.tokens,
  allowLoopbackHttp: true,
  onWarning: (message) => say({ event: "warning", message }),
});
const flow = engine.compile(config.flow);
const runOnce = async () => {
  const result = await flow.run({ deadlineMs: config.deadlineMs });
  return { status: result.status, reason: result.reason, out: result.variables.out ?? null };
};

say({ event: "ready", pid: process.pid });
if (config.waitForGo) await nextCommand();

if (config.mode === "once") {
  say({ event: "result", ...(await runOnce()) });
} else if (config.mode === "loop") {
  // Runs one after another until told "stop" (or stdin closes); each result is reported.
  let stop = false;
  void stdinClosed.then(() => {
    stop = true;
  });
  void nextCommand().then(() => {
    stop = true;
  });
  while (!stop) {
    say({ event: "result", ...(await runOnce()) });
    await new Promise((resolve) => setTimeout(resolve, config.pauseMs ?? 20));
  }
} else if (config.mode === "throughput") {
  await runOnce(); // warm: the token is cached from here on
  const runs = config.runs ?? 5000;
  const concurrency = config.concurrency ?? 32;
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < runs) if ((await runOnce()).status !== "completed") failed++;
    }),
  );
  say({ event: "throughput", runsPerSecond: runs / ((performance.now() - started) / 1000), failed });
} else if (config.mode === "follow") {
  await stdinClosed;
}

await registry.close?.();
await engine.close();
await fleet?.close();
lines.close();
process.stdin.destroy();
