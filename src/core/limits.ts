import { FlowrunError } from "./errors.js";

/**
 * Bounds on the work that what a flow author writes may cause on the per-call path. A flow is not trusted with the
 * process: one run must not block the event loop, exhaust memory or overflow the stack of the process that runs
 * thousands of calls at once. docs/hardening.md lists each limit with its default.
 */
export interface Limits {
  /** Steps (nodes visited, filter terms evaluated, matches produced) one JSON path evaluation may take. */
  readonly jsonPathSteps: number;
  /** Characters of a JSON path, checked at compile time. */
  readonly jsonPathLength: number;
  /** Nesting of brackets and parentheses in a JSON path, checked at compile time. */
  readonly jsonPathNesting: number;
  /** Milliseconds one Liquid render (a template with tags) may take. */
  readonly templateRenderMs: number;
  /** Units of Liquid's memory accounting (characters, array items, range length) one evaluation may allocate. */
  readonly templateMemory: number;
  /** Nesting depth of a parsed response and of a value written into a variable. */
  readonly valueDepth: number;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  jsonPathSteps: 200_000,
  jsonPathLength: 1000,
  jsonPathNesting: 8,
  templateRenderMs: 50,
  templateMemory: 200_000,
  valueDepth: 64,
});

export type LimitName = keyof Limits;

/** Checks the `limits` option of an engine and fills in the defaults. */
export function resolveLimits(overrides: Partial<Limits> | undefined): Limits {
  if (overrides === undefined) return DEFAULT_LIMITS;
  const limits: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(overrides)) {
    if (!Object.hasOwn(DEFAULT_LIMITS, name))
      throw new FlowrunError(
        "invalid-option",
        `limits.${name} is not a limit (known: ${Object.keys(DEFAULT_LIMITS).join(", ")})`,
      );
    if (value === undefined) continue;
    if (!(typeof value === "number" && Number.isSafeInteger(value) && value > 0))
      throw new FlowrunError("invalid-option", `limits.${name} must be a positive whole number`);
    limits[name] = value;
  }
  return Object.freeze(limits) as unknown as Limits;
}

/**
 * A limit was hit while a run evaluated what its flow's author wrote. The interpreter adds the activity; the
 * activity ends with kind `limit-exceeded` and the run takes its error branch.
 */
export class LimitExceededError extends FlowrunError {
  readonly limit: LimitName;
  constructor(limit: LimitName, message: string) {
    super("limit-exceeded", `limit ${limit} exceeded: ${message}`);
    this.name = "LimitExceededError";
    this.limit = limit;
  }
}

/**
 * Whether a JSON-like value nests deeper than `max` levels (`{}` is one level). The walk recurses at most `max + 1`
 * frames, whatever the value's depth, and allocates nothing: it runs on every response and assignment.
 */
export function depthExceeds(value: unknown, max: number): boolean {
  if (value === null || typeof value !== "object") return false;
  if (max < 1) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (depthExceeds(item, max - 1)) return true;
    return false;
  }
  for (const key in value) if (depthExceeds((value as Record<string, unknown>)[key], max - 1)) return true;
  return false;
}

/** Throws `limit-exceeded` (valueDepth) when `value` nests deeper than the limit. */
export function checkValueDepth(value: unknown, max: number, what: string): void {
  if (depthExceeds(value, max))
    throw new LimitExceededError("valueDepth", `${what} nests deeper than ${max} levels`);
}
