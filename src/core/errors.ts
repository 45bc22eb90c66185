/**
 * Every error flowrun raises on purpose is a FlowrunError: a stable `code` for programs and a
 * message for people. The CLI prints `message` (never a stack) for these; anything else is a bug.
 */
export class FlowrunError extends Error {
  readonly code: string;
  /** Set when the person running the flow can remove the cause by giving a missing input. */
  readonly fixable: FixableCause | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; fixable?: FixableCause }) {
    super(message, options);
    this.name = "FlowrunError";
    this.code = code;
    this.fixable = options?.fixable;
  }
}

/**
 * A cause of a failure that the person running the flow can remove by giving a missing input. Data, not advice:
 * the CLI turns it into a one-line hint; libraries just carry it (the `cause` of an http trace entry).
 */
export type FixableCause =
  /** A connector secret `{ "env": NAME }` whose variable is unset or empty. */
  | { code: "secret-env-unset"; connector: string; field: string; env: string }
  /** A connector secret `{ "file": PATH }` that cannot be read or is empty (`file` as written, relative to the connectors file). */
  | { code: "secret-file-unreadable"; connector: string; field: string; file: string; problem: string }
  /** A plain `http://` URL to a loopback host while the engine does not allow it (`subject` names the URL's role). */
  | { code: "loopback-http-not-allowed"; subject: string };

/** The first fixable cause along an error's `cause` chain. */
export function fixableCauseOf(error: unknown): FixableCause | undefined {
  for (let current = error, depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof FlowrunError && current.fixable) return current.fixable;
    current = current instanceof Error ? current.cause : undefined;
  }
  return undefined;
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
