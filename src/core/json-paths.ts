import { JSONPath } from "jsonpath-plus";
import { describeError, FlowrunError } from "./errors.js";

/** A JSON path from a parse setting, checked and split once at compile time. */
export interface CompiledJsonPath {
  readonly source: string;
  /** Definite paths name one location and yield its value; indefinite ones yield the array of all matches. */
  readonly definite: boolean;
  /** The matches in `document`: for a definite path at most one. */
  select(document: unknown): unknown[];
}

export class JsonPathError extends FlowrunError {
  constructor(message: string) {
    super("invalid-json-path", message);
    this.name = "JsonPathError";
  }
}

const INDEX = /^\d+$/;
const INDEFINITE_SEGMENT = /^(\*|\.\.|\?\(.*\)|\(.*\)|.*[,:].*|-\d+|[~^@$].*)$/s;

function checkBrackets(source: string): string | undefined {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "[" || ch === "(") depth++;
    else if (ch === "]" || ch === ")") {
      depth--;
      if (depth < 0) return `unexpected "${ch}" at character ${i + 1}`;
    }
  }
  if (quote) return "unterminated quoted name";
  if (depth !== 0) return "unclosed bracket";
  return undefined;
}

export function compileJsonPath(source: string): CompiledJsonPath {
  const text = source.trim();
  if (!text.startsWith("$"))
    throw new JsonPathError(`JSON path ${JSON.stringify(source)} must start with "$"`);
  const bracketProblem = checkBrackets(text);
  if (bracketProblem)
    throw new JsonPathError(`invalid JSON path ${JSON.stringify(source)}: ${bracketProblem}`);
  let segments: string[];
  try {
    segments = [...JSONPath.toPathArray(text)].slice(1);
  } catch (error) {
    throw new JsonPathError(`invalid JSON path ${JSON.stringify(source)}: ${describeError(error)}`);
  }
  for (const segment of segments) {
    if (segment.startsWith("?(")) {
      try {
        JSONPath({ path: `$[${segment}]`, json: [{}], wrap: true, eval: "safe" });
      } catch (error) {
        throw new JsonPathError(
          `invalid filter in JSON path ${JSON.stringify(source)}: ${describeError(error)}`,
        );
      }
    }
  }
  const definite = segments.every((segment) => !INDEFINITE_SEGMENT.test(segment));
  if (definite) return definitePath(source, segments);
  const path = ["$", ...segments];
  return {
    source,
    definite,
    select(document) {
      if (document === null || typeof document !== "object") return [];
      // ignoreEvalErrors: a filter such as `?(@.a)` throws on a null or primitive element ("Cannot read properties
      // of null"); that element simply does not match, instead of the whole run failing with an internal error
      // (found by the hardening property tests).
      return JSONPath({
        path,
        json: document as object,
        wrap: true,
        eval: "safe",
        ignoreEvalErrors: true,
      }) as unknown[];
    },
  };
}

/**
 * One step of a definite path, decided at compile time: on an array only an index matches; on an object only an
 * own property of that name (an index segment names the property "0" there).
 */
interface PathStep {
  readonly key: string;
  /** The array index the segment names, or -1 when it is not an index. */
  readonly index: number;
}

/** A definite path compiled to property and index access: no regular expression or parsing per document. */
function definitePath(source: string, segments: readonly string[]): CompiledJsonPath {
  const steps: PathStep[] = segments.map((key) => ({ key, index: INDEX.test(key) ? Number(key) : -1 }));
  return {
    source,
    definite: true,
    select(document) {
      let current: unknown = document;
      for (const step of steps) {
        if (Array.isArray(current)) {
          if (step.index < 0) return [];
          current = current[step.index];
        } else if (current !== null && typeof current === "object" && Object.hasOwn(current, step.key)) {
          current = (current as Record<string, unknown>)[step.key];
        } else return [];
        if (current === undefined) return [];
      }
      return [current];
    },
  };
}
