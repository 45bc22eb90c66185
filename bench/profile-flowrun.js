// Profiles the flowrun contender of `npm run bench` alone: node --cpu-prof bench/profile-flowrun.js
// (BENCH_FLOW=interaction for the second flow).
import { createEngine } from "../dist/index.js";
import { crmResolver, interactionFlow, lookupFlow } from "./contenders.js";
import { startServer, throughput } from "./harness.js";

const server = await startServer();
try {
  const engine = createEngine({
    connectors: crmResolver(server.origin),
    allowLoopbackHttp: true,
    connectionsPerOrigin: 64,
  });
  const flow = engine.compile(process.env.BENCH_FLOW === "interaction" ? interactionFlow : lookupFlow);
  const contact = { ani: "+15551234567" };
  const task = async () => {
    const result = await flow.run({ contact });
    if (result.status !== "completed") throw new Error(`run ${result.status}: ${result.error?.message}`);
  };
  await throughput(2000, 64, task);
  const perSecond = await throughput(Number(process.env.BENCH_REQUESTS ?? 20_000), 64, task);
  process.stdout.write(
    `flowrun: ${Math.round(perSecond)} runs/s; server: ${JSON.stringify(await server.stats())}\n`,
  );
  await engine.close();
} finally {
  server.stop();
}
