// A host process that registers a tracer provider through whatever `@opentelemetry/api` it has (see api-alias.cjs),
// runs one flow, and prints the API version and the names of the spans its provider was asked for, as JSON.
import { createRequire } from "node:module";
import { createEngine } from "../../../src/runtime/create-engine.js";

type Api = typeof import("@opentelemetry/api");
const require = createRequire(import.meta.url);
let api: Api | undefined;
try {
  api = require("@opentelemetry/api") as Api;
} catch {
  api = undefined;
}

const started: string[] = [];
if (api) {
  const host = api;
  // The smallest provider: its spans are non-recording wrappers of one valid span context.
  const spanContext = {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: 1,
  };
  const tracer = {
    startSpan(name: string) {
      started.push(name);
      return host.trace.wrapSpanContext(spanContext);
    },
  };
  host.trace.setGlobalTracerProvider({ getTracer: () => tracer } as unknown as Parameters<
    Api["trace"]["setGlobalTracerProvider"]
  >[0]);
}

const engine = createEngine();
const result = await engine
  .compile({
    name: "greeting",
    variables: { greeting: { type: "string" } },
    start: "set",
    activities: {
      set: {
        type: "set-variable",
        assignments: [{ variable: "greeting", value: "hello" }],
        next: { default: "end" },
      },
      end: { type: "end-flow" },
    },
  })
  .run({ contact: {} });
await engine.close();
// The version of the API that registered the provider, as its global registry records it.
const registry = (globalThis as Record<symbol, { version?: string } | undefined>)[
  Symbol.for("opentelemetry.js.api.1")
];
process.stdout.write(
  `${JSON.stringify({ version: registry?.version ?? null, status: result.status, spans: started })}\n`,
);
