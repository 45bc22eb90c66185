import type { RunOptions } from "../../src/engine/interpreter.js";
import type { RunResult } from "../../src/engine/result.js";
import { createEngine, type EngineOptions } from "../../src/runtime/create-engine.js";

/** A minimal valid flow document around the given activities. */
export function flow(
  activities: Record<string, unknown>,
  extra: { variables?: Record<string, unknown>; start?: string; onError?: string } = {},
): Record<string, unknown> {
  return {
    name: "test-flow",
    variables: extra.variables ?? {},
    start: extra.start ?? Object.keys(activities)[0],
    ...(extra.onError ? { onError: extra.onError } : {}),
    activities,
  };
}

export async function runFlow(
  document: Record<string, unknown>,
  options: RunOptions = {},
  engineOptions: EngineOptions = {},
): Promise<RunResult> {
  const engine = createEngine(engineOptions);
  try {
    return await engine.compile(document).run(options);
  } finally {
    await engine.close();
  }
}

export const end = { type: "end-flow" };
