import { TokenKind, type Value } from "liquidjs";

/**
 * A direct evaluator for the common shape of flow expressions (`balance > 100 and isVip`, `contact.ani`,
 * `tier == "gold"`): variables with static property paths, number, string and boolean literals, and the
 * comparison and logical operators. It mirrors liquidjs's semantics for plain JSON data and skips its generator
 * machinery, which dominates the interpreter's time otherwise. Anything else (ranges, `nil`/`empty`/`blank`,
 * dynamic `[x]` lookups, `size`/`first`/`last`) returns undefined and Liquid evaluates it.
 */
export type FastEvaluator = (values: Record<string, unknown>) => unknown;

/** Liquid truthiness for plain data (the direct path never sees Liquid's drops): only false and nil are false. */
const truthy = (value: unknown) => value !== false && value !== null && value !== undefined;

interface TokenLike {
  kind: number;
  content?: unknown;
  getText(): string;
  variable?: TokenLike;
  props?: TokenLike[];
  literal?: string;
}

const SPECIAL_KEYS = new Set(["size", "first", "last"]);
const hasOwn = Object.prototype.hasOwnProperty;

function readProperty(target: unknown, key: string | number): unknown {
  if (target === null || target === undefined) return target;
  if (Array.isArray(target) && typeof key === "number") {
    const index = key < 0 ? target.length + key : key;
    return hasOwn.call(target, index) ? target[index] : undefined;
  }
  if (!hasOwn.call(target, key)) return undefined;
  const value = (target as Record<string | number, unknown>)[key];
  // Liquid calls functions it reads; flow data is JSON and holds none, so leave such paths to Liquid.
  return typeof value === "function" ? undefined : value;
}

function propertyPath(token: TokenLike): FastEvaluator | undefined {
  const keys: (string | number)[] = [];
  for (const prop of [...(token.variable ? [token.variable] : []), ...(token.props ?? [])]) {
    if (prop.kind !== TokenKind.Word && prop.kind !== TokenKind.Number && prop.kind !== TokenKind.Quoted)
      return undefined;
    const key = prop.content;
    if (typeof key !== "string" && typeof key !== "number") return undefined;
    if (SPECIAL_KEYS.has(String(key))) return undefined;
    keys.push(key);
  }
  if (keys.length === 0) return undefined;
  const [root, ...rest] = keys as [string | number, ...(string | number)[]];
  if (rest.length === 0) return (values) => values[root];
  return (values) => {
    let current: unknown = values[root];
    for (const key of rest) current = readProperty(current, key);
    return current;
  };
}

function liquidEquals(left: unknown, right: unknown): boolean {
  if (Array.isArray(left)) {
    return (
      Array.isArray(right) &&
      left.length === right.length &&
      left.every((item, i) => liquidEquals(item, right[i]))
    );
  }
  return left === right;
}

function binary(operator: string, left: FastEvaluator, right: FastEvaluator): FastEvaluator | undefined {
  switch (operator) {
    case "==":
      return (v) => liquidEquals(left(v), right(v));
    case "!=":
      return (v) => !liquidEquals(left(v), right(v));
    case "<":
      return (v) => (left(v) as number) < (right(v) as number);
    case ">":
      return (v) => (left(v) as number) > (right(v) as number);
    case "<=":
      return (v) => (left(v) as number) <= (right(v) as number);
    case ">=":
      return (v) => (left(v) as number) >= (right(v) as number);
    case "contains":
      return (v) => {
        const haystack = left(v);
        const needle = right(v);
        if (Array.isArray(haystack)) return haystack.some((item) => liquidEquals(item, needle));
        if (typeof haystack === "string") return haystack.indexOf(String(needle)) > -1;
        return false;
      };
    case "and":
      return (v) => truthy(left(v)) && truthy(right(v));
    case "or":
      return (v) => truthy(left(v)) || truthy(right(v));
    default:
      return undefined;
  }
}

/** Compiles the filter-free part of a Liquid value, or returns undefined when Liquid must evaluate it. */
export function compileFastEvaluator(value: Value): FastEvaluator | undefined {
  const stack: FastEvaluator[] = [];
  for (const raw of value.initial.postfix as unknown as TokenLike[]) {
    if (raw.kind === TokenKind.Operator) {
      const operator = raw.getText();
      if (operator === "not") {
        const operand = stack.pop();
        if (!operand) return undefined;
        stack.push((v) => !truthy(operand(v)));
        continue;
      }
      const right = stack.pop();
      const left = stack.pop();
      if (!left || !right) return undefined;
      const combined = binary(operator, left, right);
      if (!combined) return undefined;
      stack.push(combined);
    } else if (raw.kind === TokenKind.Number || raw.kind === TokenKind.Quoted) {
      const constant = raw.content;
      stack.push(() => constant);
    } else if (raw.kind === TokenKind.Literal) {
      if (raw.content !== true && raw.content !== false) return undefined;
      const constant = raw.content;
      stack.push(() => constant);
    } else if (raw.kind === TokenKind.PropertyAccess) {
      const read = propertyPath(raw);
      if (!read) return undefined;
      stack.push(read);
    } else return undefined;
  }
  return stack.length === 1 ? stack[0] : undefined;
}
