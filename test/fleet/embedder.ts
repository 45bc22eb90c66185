// An embedding process for cross-process tests: follows a connectors file and runs a one-request flow every
// 25 ms, printing each run's result as a JSON line; warnings go to stderr. Stops on SIGTERM.

import { ConnectorFileStore, ConnectorRegistry, createEngine } from "../../src/index.js";
import { crmPing } from "./flows.js";

const [file] = process.argv.slice(2);
const warn = (message: string) => process.stderr.write(`warning: ${message}\n`);
const registry = await ConnectorRegistry.open(new ConnectorFileStore(file!, { allowLoopbackHttp: true }), {
  allowLoopbackHttp: true,
  onWarning: warn,
});
const engine = createEngine({ connectors: registry, allowLoopbackHttp: true, onWarning: warn });
const flow = engine.compile({
  name: "lookup",
  start: "call",
  activities: {
    call: crmPing("end"),
    end: { type: "end-flow" },
  },
});

let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
});
for (let n = 1; !stopping; n++) {
  const result = await flow.run({});
  const outcome = result.trace[0]?.outcome ?? null;
  process.stdout.write(`${JSON.stringify({ n, status: result.status, reason: result.reason, outcome })}\n`);
  await new Promise((resolve) => setTimeout(resolve, 25));
}
await registry.close();
await engine.close();
