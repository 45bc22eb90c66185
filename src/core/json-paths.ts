import { FlowrunError } from "./errors.js";
import {
  compileFilter,
  type FilterPredicate,
  FilterSyntaxError,
  type StepBudget,
} from "./json-path-filter.js";
import { DEFAULT_LIMITS, LimitExceededError, type Limits } from "./limits.js";

/** A JSON path from a parse setting, checked and split once at compile time. */
export interface CompiledJsonPath {
  readonly source: string;
  /** Definite paths name one location and yield its value; indefinite ones yield the array of all matches. */
  readonly definite: boolean;
  /** The matches in `document`: for a definite path at most one. Throws `limit-exceeded` past the step budget. */
  select(document: unknown): unknown[];
}

export class JsonPathError extends FlowrunError {
  constructor(message: string) {
    super("invalid-json-path", message);
    this.name = "JsonPathError";
  }
}

/** What one segment picks among the children of a node. */
type Selector =
  | { kind: "name"; name: string }
  | { kind: "index"; index: number }
  | { kind: "wildcard" }
  | { kind: "slice"; start: number | undefined; end: number | undefined; step: number }
  | { kind: "union"; members: (string | number)[] }
  | { kind: "filter"; predicate: FilterPredicate };

/** One segment: `..` applies the selector to the node and to every node below it. */
interface Segment {
  readonly descendants: boolean;
  readonly selector: Selector;
}

type Limited = Pick<Limits, "jsonPathSteps" | "jsonPathLength" | "jsonPathNesting">;

/**
 * Compiles a JSON path (Goessner's syntax as jsonpath-plus read it: `.name`, `['name']`, `[0]`, `[-1]`, `*`, `..`,
 * `[0,1]`, `['a','b']`, `[start:end:step]`, `[?(filter)]`). Evaluation is an own bounded walk: every node visited,
 * filter term evaluated and match produced costs a step, and the step budget ends a runaway evaluation with
 * `limit-exceeded` instead of blocking the event loop or exhausting memory.
 */
export function compileJsonPath(source: string, limits: Limited = DEFAULT_LIMITS): CompiledJsonPath {
  const text = source.trim();
  const quoted = JSON.stringify(source.length > 80 ? `${source.slice(0, 80)}...` : source);
  if (text.length > limits.jsonPathLength)
    throw new JsonPathError(
      `JSON path ${quoted} is ${text.length} characters long; the limit (jsonPathLength) is ${limits.jsonPathLength}`,
    );
  if (!text.startsWith("$")) throw new JsonPathError(`JSON path ${quoted} must start with "$"`);
  let segments: Segment[];
  try {
    checkNesting(text, limits.jsonPathNesting);
    segments = parseSegments(text);
  } catch (error) {
    if (error instanceof PathSyntaxError || error instanceof FilterSyntaxError)
      throw new JsonPathError(`invalid JSON path ${quoted}: ${error.message}`);
    throw error;
  }
  const definite = segments.every(
    (s) =>
      !s.descendants &&
      (s.selector.kind === "name" || (s.selector.kind === "index" && s.selector.index >= 0)),
  );
  if (definite) return definitePath(source, segments);
  const maxSteps = limits.jsonPathSteps;
  return {
    source,
    definite,
    select(document) {
      if (document === null || typeof document !== "object") return [];
      return evaluate(segments, document, new Steps(maxSteps, source));
    },
  };
}

class PathSyntaxError extends Error {}

class Steps implements StepBudget {
  private left: number;
  constructor(
    private readonly max: number,
    private readonly source: string,
  ) {
    this.left = max;
  }
  step(): void {
    if (--this.left < 0) {
      const shown = this.source.length > 80 ? `${this.source.slice(0, 80)}...` : this.source;
      throw new LimitExceededError(
        "jsonPathSteps",
        `JSON path ${JSON.stringify(shown)} took more than ${this.max} steps on this response`,
      );
    }
  }
}

/** Refuses paths nested deeper than the limit before anything else reads them (and checks that they balance). */
function checkNesting(text: string, max: number): void {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "[" || ch === "(") {
      if (++depth > max)
        throw new PathSyntaxError(`brackets nest deeper than ${max} levels (the limit jsonPathNesting)`);
    } else if (ch === "]" || ch === ")") {
      if (--depth < 0) throw new PathSyntaxError(`unexpected "${ch}" at character ${i + 1}`);
    }
  }
  if (quote) throw new PathSyntaxError("unterminated quoted name");
  if (depth !== 0) throw new PathSyntaxError("unclosed bracket");
}

const NAME = /[^.[\]\s]+/y;

/** Splits the path after `$` into segments; linear in its length. */
function parseSegments(text: string): Segment[] {
  const segments: Segment[] = [];
  let i = 1;
  while (i < text.length) {
    let descendants = false;
    if (text.startsWith("..", i)) {
      descendants = true;
      i += 2;
    } else if (text[i] === ".") i++;
    else if (text[i] !== "[") throw new PathSyntaxError(`unexpected "${text[i]}" at character ${i + 1}`);
    if (text[i] === "[") {
      const close = closingBracket(text, i);
      segments.push({ descendants, selector: bracketSelector(text.slice(i + 1, close).trim()) });
      i = close + 1;
      continue;
    }
    NAME.lastIndex = i;
    const match = NAME.exec(text);
    if (!match) throw new PathSyntaxError(`a name or "*" is missing at character ${i + 1}`);
    const name = match[0];
    segments.push({ descendants, selector: name === "*" ? { kind: "wildcard" } : nameOrIndex(name) });
    i += name.length;
  }
  return segments;
}

/** The `]` that closes the bracket at `open`, past quotes and nested brackets (checkNesting made sure it exists). */
function closingBracket(text: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "[" || ch === "(") depth++;
    else if ((ch === "]" || ch === ")") && --depth === 0) return i;
  }
  throw new PathSyntaxError("unclosed bracket");
}

function nameOrIndex(name: string): Selector {
  return /^\d+$/.test(name) ? { kind: "index", index: Number(name) } : { kind: "name", name };
}

const INTEGER = /^-?\d+$/;
const SLICE = /^(-?\d+)?:(-?\d+)?(?::(-?\d+)?)?$/;

function bracketSelector(inner: string): Selector {
  if (inner === "*") return { kind: "wildcard" };
  if (inner.startsWith("?")) {
    const body = inner.slice(1).trim();
    if (!body.startsWith("(") || !body.endsWith(")"))
      throw new PathSyntaxError("a filter is written [?(...)]");
    return { kind: "filter", predicate: compileFilter(body.slice(1, -1)) };
  }
  if (inner.startsWith("(")) throw new PathSyntaxError("script expressions [(...)] are not supported");
  const slice = SLICE.exec(inner.replaceAll(" ", ""));
  if (slice) {
    const step = slice[3] === undefined ? 1 : Number(slice[3]);
    if (step === 0) throw new PathSyntaxError("a slice step must not be 0");
    const bound = (s: string | undefined) => (s === undefined ? undefined : Number(s));
    return { kind: "slice", start: bound(slice[1]), end: bound(slice[2]), step };
  }
  const members = splitUnion(inner).map(unionMember);
  if (members.length === 1) {
    const only = members[0]!;
    return typeof only === "number" ? { kind: "index", index: only } : nameOrIndex(only);
  }
  return { kind: "union", members };
}

function splitUnion(inner: string): string[] {
  const parts: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i]!;
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === ",") {
      parts.push(inner.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(inner.slice(start).trim());
  return parts;
}

function unionMember(part: string): string | number {
  if (INTEGER.test(part)) return Number(part);
  const quote = part[0];
  if ((quote === "'" || quote === '"') && part.length >= 2 && part.endsWith(quote)) {
    return part.slice(1, -1).replace(/\\(.)/g, "$1");
  }
  if (part === "") throw new PathSyntaxError("empty brackets");
  // jsonpath-plus read a bare word in brackets as a name.
  if (/^[^'"\s]+$/.test(part)) return part;
  throw new PathSyntaxError(`cannot read ${JSON.stringify(part)} inside brackets`);
}

/** Evaluates the segments left to right over the set of current nodes, charging the budget for every node. */
function evaluate(segments: readonly Segment[], document: unknown, steps: Steps): unknown[] {
  let nodes: unknown[] = [document];
  for (const segment of segments) {
    const next: unknown[] = [];
    for (const node of nodes) {
      if (segment.descendants) selectDescendants(node, segment.selector, next, steps);
      else select(node, segment.selector, next, steps);
    }
    nodes = next;
  }
  return nodes;
}

/** The selector applied to the node, then to each node below it, in document order (an explicit stack). */
function selectDescendants(root: unknown, selector: Selector, out: unknown[], steps: Steps): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    steps.step();
    select(node, selector, out, steps);
    if (node === null || typeof node !== "object") continue;
    const children = Array.isArray(node) ? node : Object.values(node);
    for (let i = children.length - 1; i >= 0; i--) {
      const child = children[i];
      if (child !== null && typeof child === "object") stack.push(child);
    }
  }
}

function push(out: unknown[], value: unknown, steps: Steps): void {
  if (value === undefined) return;
  steps.step();
  out.push(value);
}

function select(node: unknown, selector: Selector, out: unknown[], steps: Steps): void {
  if (node === null || typeof node !== "object") return;
  const array = Array.isArray(node) ? node : undefined;
  switch (selector.kind) {
    case "name":
      push(out, child(node, selector.name), steps);
      return;
    case "index":
      push(out, array ? array.at(selector.index) : child(node, String(selector.index)), steps);
      return;
    case "wildcard":
      for (const value of array ?? Object.values(node)) push(out, value, steps);
      return;
    case "union":
      for (const member of selector.members) {
        if (typeof member === "number")
          push(out, array ? array.at(member) : child(node, String(member)), steps);
        else push(out, child(node, member), steps);
      }
      return;
    case "slice":
      if (array) for (const index of sliceIndexes(array.length, selector)) push(out, array[index], steps);
      return;
    case "filter":
      for (const value of array ?? Object.values(node)) {
        steps.step();
        if (selector.predicate(value, steps)) push(out, value, steps);
      }
  }
}

/** An own property; on an array, a name that is an index. */
function child(node: object, name: string): unknown {
  if (Array.isArray(node)) return /^\d+$/.test(name) ? node[Number(name)] : undefined;
  return Object.hasOwn(node, name) ? (node as Record<string, unknown>)[name] : undefined;
}

function sliceIndexes(length: number, slice: { start?: number; end?: number; step: number }): number[] {
  const normal = (value: number) => (value < 0 ? Math.max(0, length + value) : Math.min(value, length));
  const indexes: number[] = [];
  if (slice.step > 0) {
    const end = slice.end === undefined ? length : normal(slice.end);
    for (let i = slice.start === undefined ? 0 : normal(slice.start); i < end; i += slice.step)
      indexes.push(i);
  } else {
    const start = slice.start === undefined ? length - 1 : Math.min(normal(slice.start), length - 1);
    const end = slice.end === undefined ? -1 : normal(slice.end);
    const stride = -slice.step;
    for (let i = start; i > end; i -= stride) indexes.push(i);
  }
  return indexes;
}

/** A definite path compiled to property and index access: no parsing or budget per document. */
function definitePath(source: string, segments: readonly Segment[]): CompiledJsonPath {
  const steps = segments.map(({ selector }) =>
    selector.kind === "index"
      ? { key: String(selector.index), index: selector.index }
      : { key: (selector as { name: string }).name, index: -1 },
  );
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
