import jsep from "jsep";

/**
 * The filter language of JSON paths (`$.items[?(@.owner.name == 'VIP')]`): a closed set of expressions whose
 * evaluation cost is bounded by the filter's size. Comparisons, `&&`, `||`, `!`, unary `-`, literals, `@` with
 * member access (`@.a.b`, `@['a b']`, `@[0]`, `.length`). No regular expressions, method calls, arithmetic or
 * other identifiers: a flow author cannot make a filter backtrack or allocate without bound. Parsed with jsep.
 */
export type FilterPredicate = (current: unknown, budget: StepBudget) => boolean;

/** Counts the steps of one evaluation and throws when it runs out (the JSON path evaluator owns it). */
export interface StepBudget {
  step(): void;
}

/** A filter the language does not accept; the JSON path compiler turns it into a clear error. */
export class FilterSyntaxError extends Error {}

// `@` names the element under test; jsep reads it as an identifier character.
jsep.addIdentifierChar("@");
// jsep knows these besides comparisons and logic; the language refuses them with a clear message.
const COMPARISONS = new Set(["==", "!=", "===", "!==", "<", "<=", ">", ">="]);

type Evaluator = (current: unknown, budget: StepBudget) => unknown;

export function compileFilter(source: string): FilterPredicate {
  let tree: jsep.Expression;
  try {
    tree = jsep(source);
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    // jsep has no regular expression literals, so `/^(a+)+$/` fails as a parse error; say why it is refused.
    if (source.includes("/"))
      throw new FilterSyntaxError(`regular expressions are not allowed in filters (${problem})`);
    throw new FilterSyntaxError(problem);
  }
  const evaluate = compileNode(tree);
  return (current, budget) => truthy(evaluate(current, budget));
}

function truthy(value: unknown): boolean {
  return (
    value !== false &&
    value !== null &&
    value !== undefined &&
    value !== 0 &&
    value !== "" &&
    !Number.isNaN(value)
  );
}

function compileNode(node: jsep.Expression): Evaluator {
  switch (node.type) {
    case "Literal": {
      const value = (node as jsep.Literal).value;
      if (value instanceof RegExp)
        throw new FilterSyntaxError("regular expressions are not allowed in filters");
      return () => value;
    }
    case "Identifier": {
      const name = (node as jsep.Identifier).name;
      if (name !== "@") throw new FilterSyntaxError(`unknown name "${name}" (filters read the element as @)`);
      return (current) => current;
    }
    case "MemberExpression":
      return compileMember(node as jsep.MemberExpression);
    case "UnaryExpression":
      return compileUnary(node as jsep.UnaryExpression);
    case "BinaryExpression":
    case "LogicalExpression":
      return compileBinary(node as jsep.BinaryExpression);
    case "CallExpression":
      throw new FilterSyntaxError("method and function calls are not allowed in filters");
    default:
      throw new FilterSyntaxError(`${describeNode(node)} is not allowed in filters`);
  }
}

function describeNode(node: jsep.Expression): string {
  const names: Record<string, string> = {
    ArrayExpression: "an array literal",
    Compound: "more than one expression",
    ConditionalExpression: "a conditional (? :)",
    ThisExpression: "this",
  };
  return names[node.type] ?? `a ${node.type}`;
}

/** `@.a`, `@['a']`, `@[0]`: own properties only, so a filter never reaches a prototype; missing is undefined. */
function compileMember(node: jsep.MemberExpression): Evaluator {
  const object = compileNode(node.object);
  let key: string | number;
  if (!node.computed) key = (node.property as jsep.Identifier).name;
  else if (node.property.type === "Literal") {
    const literal = (node.property as jsep.Literal).value;
    if (typeof literal !== "string" && typeof literal !== "number")
      throw new FilterSyntaxError("a bracketed member must be a quoted name or a number");
    key = literal;
  } else
    throw new FilterSyntaxError("a bracketed member must be a quoted name or a number, not an expression");
  return (current, budget) => {
    budget.step();
    return member(object(current, budget), key);
  };
}

function member(target: unknown, key: string | number): unknown {
  if (typeof target === "string") return key === "length" ? target.length : undefined;
  if (target === null || typeof target !== "object") return undefined;
  if (Array.isArray(target) && key === "length") return target.length;
  return Object.hasOwn(target, key) ? (target as Record<string | number, unknown>)[key] : undefined;
}

function compileUnary(node: jsep.UnaryExpression): Evaluator {
  const argument = compileNode(node.argument);
  if (node.operator === "!") return (current, budget) => !truthy(argument(current, budget));
  // Negates numbers only: `-` on an array or object would make JavaScript turn the whole value into a string, work
  // the step budget never sees.
  if (node.operator === "-")
    return (current, budget) => {
      const value = argument(current, budget);
      return typeof value === "number" ? -value : Number.NaN;
    };
  throw new FilterSyntaxError(`operator "${node.operator}" is not allowed in filters`);
}

function compileBinary(node: jsep.BinaryExpression): Evaluator {
  const left = compileNode(node.left);
  const right = compileNode(node.right);
  const operator = node.operator;
  if (operator === "&&") return (c, b) => truthy(left(c, b)) && truthy(right(c, b));
  if (operator === "||") return (c, b) => truthy(left(c, b)) || truthy(right(c, b));
  if (!COMPARISONS.has(operator))
    throw new FilterSyntaxError(`operator "${operator}" is not allowed in filters`);
  return (c, b) => compare(operator, left(c, b), right(c, b));
}

/**
 * JavaScript's comparison semantics, restricted to primitives: an object or array is equal only to itself and
 * never ordered, so a comparison never converts a large value to a string.
 */
function compare(operator: string, left: unknown, right: unknown): boolean {
  const objects = isObject(left) || isObject(right);
  switch (operator) {
    case "==":
      return objects ? left === right : looseEquals(left, right);
    case "!=":
      return objects ? left !== right : !looseEquals(left, right);
    case "===":
      return left === right;
    case "!==":
      return left !== right;
  }
  if (objects) return false;
  const a = left as number;
  const b = right as number;
  if (operator === "<") return a < b;
  if (operator === "<=") return a <= b;
  if (operator === ">") return a > b;
  return a >= b;
}

/** JavaScript's `==` on primitives, as jsonpath-plus evaluated filters: `@.id == '7'` matches the number 7. */
function looseEquals(left: unknown, right: unknown): boolean {
  // biome-ignore lint/suspicious/noDoubleEquals: the loose comparison is the filter language's documented meaning
  return left == right;
}

function isObject(value: unknown): boolean {
  return value !== null && typeof value === "object";
}
