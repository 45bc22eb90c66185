import { isDeepStrictEqual } from "node:util";
import type { RunResult } from "../engine/result.js";
import type { Expectation } from "./test-file.js";

const show = (value: unknown) => JSON.stringify(value) ?? "undefined";

/** Whether `actual` contains everything `expected` says (objects as subsets, arrays element by element). */
function containsSubset(actual: unknown, expected: unknown): boolean {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return false;
    return Object.entries(expected).every(
      ([key, value]) =>
        Object.hasOwn(actual, key) && containsSubset((actual as Record<string, unknown>)[key], value),
    );
  }
  return isDeepStrictEqual(actual, expected);
}

/**
 * Checks a run against a case's `expect`: status, reason, endedAt and path exactly; variables as a subset; actions
 * as a subsequence whose items are subsets of the recorded actions. Returns one line per mismatch.
 */
export function checkExpectation(result: RunResult, expected: Expectation | undefined): string[] {
  if (!expected) return [];
  const failures: string[] = [];
  for (const field of ["status", "reason", "endedAt"] as const) {
    if (expected[field] !== undefined && result[field] !== expected[field]) {
      failures.push(`${field}: expected ${show(expected[field])}, got ${show(result[field])}`);
    }
  }
  if (expected.path && !isDeepStrictEqual(result.path, expected.path)) {
    failures.push(`path: expected ${expected.path.join(" → ")}\n          got ${result.path.join(" → ")}`);
  }
  for (const [name, value] of Object.entries(expected.variables ?? {})) {
    if (!Object.hasOwn(result.variables, name))
      failures.push(`variable ${name}: expected ${show(value)}, but the flow has no such variable`);
    else if (!containsSubset(result.variables[name], value))
      failures.push(`variable ${name}: expected ${show(value)}, got ${show(result.variables[name])}`);
  }
  if (expected.actions) {
    let from = 0;
    for (const action of expected.actions) {
      const at = result.actions.findIndex((actual, index) => index >= from && containsSubset(actual, action));
      if (at < 0) {
        failures.push(
          `action ${show(action)} not found (in order) among ${show(result.actions.map(({ activity: _, ...rest }) => rest))}`,
        );
        break;
      }
      from = at + 1;
    }
  }
  if (failures.length > 0 && result.error)
    failures.push(`run error: ${result.error.kind}: ${result.error.message}`);
  return failures;
}
