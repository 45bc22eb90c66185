import { describeError } from "../core/errors.js";
import type { PathSegment } from "../core/json-path.js";
import { type CompiledJsonPath, compileJsonPath } from "../core/json-paths.js";
import { checkValueDepth, LimitExceededError } from "../core/limits.js";
import type { CompileContext, RunContext } from "./activity.js";
import type { ParseSettingDefinition } from "./schema-parts.js";
import { coerce } from "./variables.js";

/** A parse setting with its JSON path compiled and its default already converted to the variable's type. */
export interface CompiledParseSetting {
  readonly variable: string;
  readonly path: CompiledJsonPath;
  readonly hasDefault: boolean;
  readonly defaultValue: unknown;
  readonly required: boolean;
  readonly source: string;
}

export function compileParseSettings(
  settings: readonly ParseSettingDefinition[],
  at: readonly PathSegment[],
  ctx: CompileContext,
): CompiledParseSetting[] {
  const compiled: CompiledParseSetting[] = [];
  settings.forEach((setting, index) => {
    const where = [...at, index];
    ctx.assigns(setting.outputVariable);
    const declaration = ctx.variables.get(setting.outputVariable);
    if (!declaration) {
      ctx.problem(
        [...where, "outputVariable"],
        `parse setting writes undeclared variable "${setting.outputVariable}"`,
      );
    }
    let path: CompiledJsonPath | undefined;
    try {
      path = compileJsonPath(setting.pathExpression, ctx.services.limits);
    } catch (error) {
      ctx.problem([...where, "pathExpression"], describeError(error));
    }
    const source = `${ctx.activityId} parse setting ${index} (${setting.pathExpression})`;
    let defaultValue: unknown = null;
    const hasDefault = Object.hasOwn(setting, "default");
    if (hasDefault && declaration) {
      try {
        defaultValue = coerce(setting.default, declaration.type, setting.outputVariable, `${source} default`);
      } catch (error) {
        ctx.problem([...where, "default"], describeError(error));
      }
    }
    if (path && declaration) {
      compiled.push({
        variable: setting.outputVariable,
        path,
        hasDefault,
        defaultValue,
        required: setting.required ?? false,
        source,
      });
    }
  });
  return compiled;
}

/**
 * Applies parse settings to a parsed JSON document, all or nothing: the first failure assigns no variable and is
 * returned as the message of a `parse` error. A document nested deeper than the valueDepth limit, or a path that
 * runs out of steps, throws `limit-exceeded`.
 */
export function applyParseSettings(
  settings: readonly CompiledParseSetting[],
  document: unknown,
  ctx: RunContext,
): { assignments: Record<string, unknown>; unmatchedPaths?: Record<string, string> } | { error: string } {
  checkValueDepth(document, ctx.services.limits.valueDepth, "the parsed response");
  const values: unknown[] = [];
  let unmatchedPaths: Record<string, string> | undefined;
  for (const setting of settings) {
    const matches = setting.path.select(document);
    let value: unknown;
    if (matches.length === 0) {
      // Said in the trace: `= null` alone reads as if the response held null.
      unmatchedPaths ??= {};
      unmatchedPaths[setting.variable] = setting.path.source;
      if (setting.hasDefault) {
        values.push(setting.defaultValue);
        continue;
      }
      if (setting.required)
        return { error: `required path ${setting.path.source} matched nothing in the response` };
      value = null;
    } else {
      value = setting.path.definite ? matches[0] : matches;
    }
    try {
      values.push(ctx.coerceFor(setting.variable, value, setting.source));
    } catch (error) {
      if (error instanceof LimitExceededError) throw error;
      return { error: describeError(error) };
    }
  }
  const assignments: Record<string, unknown> = {};
  settings.forEach((setting, index) => {
    ctx.assignCoerced(setting.variable, values[index]);
    assignments[setting.variable] = values[index];
  });
  return unmatchedPaths ? { assignments, unmatchedPaths } : { assignments };
}
