/**
 * Every error flowrun raises on purpose is a FlowrunError: a stable `code` for programs and a
 * message for people. The CLI prints `message` (never a stack) for these; anything else is a bug.
 */
export class FlowrunError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FlowrunError";
    this.code = code;
  }
}

export type ProblemSeverity = "error" | "warning";

/** One thing wrong with a document, located by a JSON path such as `$.activities.lookup.next.success`. */
export interface Problem {
  path: string;
  message: string;
  severity: ProblemSeverity;
}

/** "N problems:" and one indented `path: message` line per error (warnings are not listed). */
export function problemListMessage(problems: readonly Problem[]): string {
  const errors = problems.filter((p) => p.severity === "error");
  return (
    `${errors.length} problem${errors.length === 1 ? "" : "s"}:\n` +
    errors.map((p) => `  ${p.path}: ${p.message}`).join("\n")
  );
}

/** A flow (or another document) that failed validation; `problems` lists every problem found, not just the first. */
export class ValidationError extends FlowrunError {
  readonly problems: readonly Problem[];
  readonly source: string | undefined;
  constructor(problems: readonly Problem[], source?: string, code = "invalid-flow") {
    super(code, `${source ? `${source}: ` : ""}${problemListMessage(problems)}`);
    this.name = "ValidationError";
    this.problems = problems;
    this.source = source;
  }
}

/** A message for any thrown value, without a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
