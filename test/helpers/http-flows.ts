import type { RunOptions } from "../../src/engine/interpreter.js";
import { type HttpTrace, httpTraceOf, type RunResult, type TraceEntry } from "../../src/engine/result.js";
import { createEngine, type EngineOptions } from "../../src/runtime/create-engine.js";

/**
 * A flow around one http-request activity `call`: every outcome goes to `capture`, which copies the activity's
 * outputs into the json variable `out`, so tests can read statusCode, body, json and error.
 */
export function httpFlow(activity: Record<string, unknown>, variables: Record<string, unknown> = {}) {
  return {
    name: "http-test",
    variables: { out: { type: "json" }, ...variables },
    start: "call",
    activities: {
      call: {
        type: "http-request",
        ...activity,
        next: { success: "capture", error: "capture", timeout: "capture" },
      },
      capture: {
        type: "set-variable",
        assignments: [{ variable: "out", value: "{{ call }}" }],
        next: { default: "end" },
      },
      end: { type: "end-flow" },
    },
  };
}

export interface HttpOutputs {
  statusCode: number | null;
  headers: Record<string, string>;
  body: string | null;
  json: unknown;
  durationMs: number;
  error?: { kind: string; message: string };
}

export interface HttpRun {
  result: RunResult;
  /** The trace entry of `call`. */
  entry: TraceEntry;
  /** The outputs of `call` (undefined when the run halted). */
  outputs: HttpOutputs;
  /** The `http` trace detail of `call`. */
  http: HttpTrace;
}

/** Compiles and runs `httpFlow(activity)` once on a fresh engine, closed afterwards. */
export async function runHttp(
  engineOptions: EngineOptions,
  activity: Record<string, unknown>,
  options: { variables?: Record<string, unknown>; declare?: Record<string, unknown>; run?: RunOptions } = {},
): Promise<HttpRun> {
  const engine = createEngine(engineOptions);
  try {
    const declared: Record<string, unknown> = { ...options.declare };
    for (const name of Object.keys(options.variables ?? {})) declared[name] ??= { type: "json" };
    const flow = engine.compile(httpFlow(activity, declared));
    const result = await flow.run({ ...options.run, variables: options.variables });
    const entry = result.trace[0]!;
    return {
      result,
      entry,
      outputs: result.variables.out as HttpOutputs,
      http: httpTraceOf(entry)!,
    };
  } finally {
    await engine.close();
  }
}
