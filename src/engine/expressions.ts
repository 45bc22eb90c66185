import {
  Context,
  Drop,
  Liquid,
  isTruthy as liquidIsTruthy,
  Output,
  TokenKind,
  toValueSync,
  Value,
} from "liquidjs";
import { describeError, FlowrunError } from "../core/errors.js";
import { DEFAULT_LIMITS, LimitExceededError, type Limits } from "../core/limits.js";
import { compileFastEvaluator } from "./fast-expressions.js";

/**
 * One Liquid instance for every flow: no file system (no partials/layouts), unknown filters rejected at parse
 * time, and own properties only so a template can never reach `constructor`, `__proto__` or prototype methods.
 */
const liquid = new Liquid({
  strictFilters: true,
  strictVariables: false,
  ownPropertyOnly: true,
  relativeReference: false,
  dynamicPartials: false,
  jsTruthy: false,
});
/** Liquid's own `json` with `null` for undefined, charging the template's memory budget as liquidjs's filters do. */
liquid.registerFilter(
  "json",
  function (this: { context: { memoryLimit: { use(count: number): void } } }, value: unknown) {
    const text = JSON.stringify(value ?? null);
    this.context.memoryLimit.use(text.length);
    return text;
  },
);

type ParsedTemplate = ReturnType<Liquid["parse"]>;

/** A syntax or evaluation problem in a template or expression. */
export class TemplateError extends FlowrunError {
  constructor(message: string) {
    super("template-error", message);
    this.name = "TemplateError";
  }
}

/**
 * Liquid's resource accounting, with flowrun's budgets and errors: Liquid charges `use` for what a filter or a
 * range allocates and calls `check` with the time before rendering each node of a template. Reset before every
 * evaluation, so each render gets the whole budget (liquidjs's own limiter counts from the context's creation).
 */
class RenderBudget {
  private used = 0;
  private deadline = Number.POSITIVE_INFINITY;
  constructor(private readonly limits: Limits) {}
  /** Before an expression or output: memory only (no tags, so no loop to time). */
  resetMemory(): void {
    this.used = 0;
  }
  /** Before a template with tags: memory and time. */
  resetAll(): void {
    this.used = 0;
    this.deadline = performance.now() + this.limits.templateRenderMs;
  }
  readonly memory = {
    use: (count: number) => {
      this.used += +count > 0 ? +count : 0;
      if (this.used > this.limits.templateMemory)
        throw new LimitExceededError(
          "templateMemory",
          `a template or expression allocated more than ${this.limits.templateMemory} units (characters, items)`,
        );
    },
    check: () => {},
  };
  readonly time = {
    use: () => {},
    check: (now: number) => {
      if (now > this.deadline)
        throw new LimitExceededError(
          "templateRenderMs",
          `a template took more than ${this.limits.templateRenderMs} ms to render`,
        );
    },
  };
}

/**
 * The per-run evaluation scope: flow variables, `contact` and activity outputs share one namespace (the compiler
 * rejects collisions), held in one null-prototype object that templates read through a single Liquid context.
 */
export class Scope {
  readonly values: Record<string, unknown> = Object.create(null);
  readonly #limits: Limits;
  /** Created with the context: only Liquid's own evaluation charges it. */
  #budget: RenderBudget | undefined;
  #context: Context | undefined;
  constructor(limits: Limits = DEFAULT_LIMITS) {
    this.#limits = limits;
  }
  /** Before an expression or a tag-free template: a fresh memory budget. */
  resetMemory(): void {
    this.#budget?.resetMemory();
  }
  /** Before a template with tags: a fresh memory and time budget. */
  resetAll(): void {
    this.#budget?.resetAll();
  }
  /** Created on first use: runs whose expressions all take the direct path never need one. */
  get context(): Context {
    if (this.#context) return this.#context;
    const budget = new RenderBudget(this.#limits);
    this.#budget = budget;
    this.#context = new Context(
      this.values,
      liquid.options,
      { sync: true, ownPropertyOnly: true },
      // liquidjs types these as its Limiter class; it only calls use and check.
      { liquid, memoryLimit: budget.memory as never, renderLimit: budget.time as never },
    );
    return this.#context;
  }
}

export interface CompiledTemplate {
  readonly source: string;
  /** The scope names it reads (`lookup` for `{{ lookup.statusCode }}`), for the compiler's undefined-name check. */
  readonly names: readonly string[];
  /** Whether the value depends on the scope; a constant template skips Liquid at run time. */
  readonly isConstant: boolean;
  render(scope: Scope): string;
}

export interface CompiledExpression {
  readonly source: string;
  /** The scope names it reads; see CompiledTemplate. */
  readonly names: readonly string[];
  /** True when the value cannot depend on the scope (a value template without markup). */
  readonly isConstant?: boolean;
  evaluate(scope: Scope): unknown;
}

const SINGLE_OUTPUT = /^\s*\{\{-?([\s\S]*?)-?\}\}\s*$/;
const HAS_MARKUP = /\{\{|\{%/;

/** liquidjs wraps what a limiter throws in a RenderError (`originalError`); a hit limit keeps its own error. */
function limitHit(error: unknown): LimitExceededError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current instanceof LimitExceededError) return current;
    current = (current as { originalError?: unknown }).originalError ?? current.cause;
  }
  return undefined;
}

function runtimeFailure(kind: string, source: string, error: unknown): FlowrunError {
  const limit = limitHit(error);
  if (limit) return limit;
  return new TemplateError(
    `${kind} ${JSON.stringify(source)} failed: ${describeError(error).split("\n")[0]}`,
  );
}

/** Parses a string template once; `render` only evaluates. */
export function compileTemplate(source: string): CompiledTemplate {
  if (!HAS_MARKUP.test(source)) {
    return { source, names: [], isConstant: true, render: () => source };
  }
  let parsed: ParsedTemplate;
  try {
    parsed = liquid.parse(source);
  } catch (error) {
    throw new TemplateError(
      `invalid template ${JSON.stringify(source)}: ${describeError(error).split("\n")[0]}`,
    );
  }
  const direct = directRenderer(parsed);
  return {
    source,
    names: scopeNames(parsed),
    isConstant: false,
    render(scope) {
      try {
        if (direct) {
          scope.resetMemory();
          return direct(scope);
        }
        const context = scope.context;
        scope.resetAll();
        return liquid.renderSync(parsed, context) as string;
      } catch (error) {
        throw runtimeFailure("template", source, error);
      }
    },
  };
}

/** Parses a Liquid expression (with optional filters), such as `balance > 100 and isVip` or `name | upcase`. */
export function compileExpression(source: string): CompiledExpression {
  if (source.trim() === "") throw new TemplateError("expression is empty");
  if (HAS_MARKUP.test(source)) {
    throw new TemplateError(`expression ${JSON.stringify(source)} must not contain {{ }} or {% %}`);
  }
  let value: Value;
  try {
    value = new Value(source, liquid);
  } catch (error) {
    throw new TemplateError(
      `invalid expression ${JSON.stringify(source)}: ${describeError(error).split("\n")[0]}`,
    );
  }
  const shapeProblem = checkOperands(value);
  if (shapeProblem) throw new TemplateError(`invalid expression ${JSON.stringify(source)}: ${shapeProblem}`);
  const evaluateValue = valueEvaluator(value);
  return {
    source,
    // Liquid analyses templates, not bare values: the expression as one output has the same names.
    names: scopeNames(liquid.parse(`{{ ${source} }}`)),
    evaluate(scope) {
      try {
        scope.resetMemory();
        return evaluateValue(scope);
      } catch (error) {
        throw runtimeFailure("expression", source, error);
      }
    },
  };
}

/** The root names a template reads from the scope; names it assigns or loops over itself are not. */
function scopeNames(parsed: ParsedTemplate): string[] {
  return liquid.globalVariablesSync(parsed);
}

/** Evaluates a parsed Liquid value: the direct evaluator where it applies, then the value's filters. */
function valueEvaluator(value: Value): (scope: Scope) => unknown {
  const fast = compileFastEvaluator(value);
  if (!fast) return (scope) => toValueSync(value.value(scope.context, false));
  const filters = value.filters;
  if (filters.length === 0) return (scope) => fast(scope.values);
  return (scope) => {
    let result = fast(scope.values);
    for (const filter of filters) result = toValueSync(filter.render(result, scope.context));
    return result;
  };
}

/** Liquid's text form of an output value. */
function outputText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(outputText).join("");
  return String(value);
}

/**
 * Templates made only of text and `{{ value | filters }}` outputs (nearly every flow template) are rendered by
 * joining the parts directly; tags (`{% if %}`) leave the template to Liquid's renderer.
 */
function directRenderer(parsed: ParsedTemplate): ((scope: Scope) => string) | undefined {
  const parts: (string | ((scope: Scope) => unknown))[] = [];
  for (const template of parsed) {
    if (template instanceof Output) parts.push(valueEvaluator(template.value));
    else if ((template as { token?: { kind?: number } }).token?.kind === TokenKind.HTML)
      parts.push((template as unknown as { str: string }).str);
    else return undefined;
  }
  return (scope) => {
    let text = "";
    for (const part of parts) text += typeof part === "string" ? part : outputText(part(scope));
    return text;
  };
}

/**
 * Liquid's parser accepts `balance >` or `a b` and fails (or guesses) only when evaluating; walking the postfix
 * form once finds operators without operands and operands without operators at compile time.
 */
function checkOperands(value: Value): string | undefined {
  let depth = 0;
  for (const token of value.initial.postfix) {
    const isOperator = token.kind === TokenKind.Operator;
    if (!isOperator) {
      depth++;
      continue;
    }
    const operator = token.getText();
    const operands = operator === "not" ? 1 : 2;
    if (depth < operands) return `operator "${operator}" is missing an operand`;
    depth -= operands - 1;
  }
  if (depth > 1) return "operands without an operator between them";
  return undefined;
}

/**
 * A template used as a value: a template that is exactly one `{{ expr }}` keeps the expression's type
 * (`"{{ account.balance }}"` stays a number); any other template renders to a string.
 */
export function compileValueTemplate(source: string): CompiledExpression {
  const single = SINGLE_OUTPUT.exec(source);
  if (single && !HAS_MARKUP.test(single[1]!)) {
    const expression = compileExpression(single[1]!);
    return { source, names: expression.names, evaluate: (scope) => expression.evaluate(scope) };
  }
  const template = compileTemplate(source);
  return {
    source,
    names: template.names,
    isConstant: template.isConstant,
    evaluate: (scope) => template.render(scope),
  };
}

/** Liquid truthiness: only `false`, `nil` (null/undefined) are false; `0` and `""` are true. */
export function isTruthy(value: unknown, scope: Scope): boolean {
  // Plain data needs no context; Liquid's drops (`empty`, `blank`) do.
  if (value === null || value === undefined || value === false) return false;
  if (value instanceof Drop) return liquidIsTruthy(value, scope.context);
  return true;
}
