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

/** One field of a case's `expect` beside what the run did. `actual` is undefined for a variable the flow lacks. */
export interface ExpectationRow {
  /** `status`, `reason`, `endedAt`, `path`, `variables.NAME` or `actions`. */
  readonly field: string;
  readonly expected: unknown;
  readonly actual: unknown;
  readonly matches: boolean;
  /** For a variable: whether the flow has it at all. */
  readonly present: boolean;
}

/** Whether `expected` actions appear in `actual`, in order, each as a subset of a recorded action. */
function actionsMatch(actual: readonly unknown[], expected: readonly unknown[]): boolean {
  let from = 0;
  for (const action of expected) {
    const at = actual.findIndex((candidate, index) => index >= from && containsSubset(candidate, action));
    if (at < 0) return false;
    from = at + 1;
  }
  return true;
}

/**
 * Every field a case's `expect` names, beside the run's value: status, reason, endedAt and path exactly; variables
 * as a subset; actions as a subsequence whose items are subsets of the recorded actions (shown without `activity`).
 */
export function compareExpectation(result: RunResult, expected: Expectation | undefined): ExpectationRow[] {
  if (!expected) return [];
  const rows: ExpectationRow[] = [];
  const exact = (field: string, want: unknown, got: unknown) =>
    rows.push({ field, expected: want, actual: got, matches: isDeepStrictEqual(got, want), present: true });
  for (const field of ["status", "reason", "endedAt"] as const)
    if (expected[field] !== undefined) exact(field, expected[field], result[field]);
  if (expected.path) exact("path", expected.path, result.path);
  for (const [name, value] of Object.entries(expected.variables ?? {})) {
    const present = Object.hasOwn(result.variables, name);
    const actual = present ? result.variables[name] : undefined;
    rows.push({
      field: `variables.${name}`,
      expected: value,
      actual,
      matches: present && containsSubset(actual, value),
      present,
    });
  }
  if (expected.actions) {
    rows.push({
      field: "actions",
      expected: expected.actions,
      actual: result.actions.map(({ activity: _, ...rest }) => rest),
      matches: actionsMatch(result.actions, expected.actions),
      present: true,
    });
  }
  return rows;
}

/** The failure line of a row that does not match. */
function mismatchMessage(row: ExpectationRow): string {
  const name = row.field.startsWith("variables.")
    ? `variable ${row.field.slice("variables.".length)}`
    : row.field;
  if (!row.present) return `${name}: expected ${show(row.expected)}, but the flow has no such variable`;
  if (row.field === "path")
    return `path: expected ${(row.expected as string[]).join(" → ")}\n          got ${(row.actual as string[]).join(" → ")}`;
  if (row.field === "actions") {
    // The first expected action that cannot be found in order is the one to name.
    let from = 0;
    const actual = row.actual as unknown[];
    for (const action of row.expected as unknown[]) {
      const at = actual.findIndex((candidate, index) => index >= from && containsSubset(candidate, action));
      if (at < 0) return `action ${show(action)} not found (in order) among ${show(actual)}`;
      from = at + 1;
    }
  }
  return `${name}: expected ${show(row.expected)}, got ${show(row.actual)}`;
}

/** Checks a run against a case's `expect` (see compareExpectation). Returns one line per mismatch. */
export function checkExpectation(result: RunResult, expected: Expectation | undefined): string[] {
  const failures = compareExpectation(result, expected)
    .filter((row) => !row.matches)
    .map(mismatchMessage);
  if (failures.length > 0 && result.error)
    failures.push(`run error: ${result.error.kind}: ${result.error.message}`);
  return failures;
}
