import { z } from "zod";
import { defineActivity } from "../engine/activity.js";
import type { CompiledExpression } from "../engine/expressions.js";
import { nextLinks } from "../engine/schema-parts.js";

const schema = z
  .strictObject({
    type: z.literal("set-variable"),
    description: z.string().optional(),
    assignments: z
      .array(
        z.strictObject({
          variable: z.string().min(1),
          value: z.unknown().meta({
            description:
              "A string is a Liquid template (exactly one {{ expr }} keeps its type); other JSON is literal",
          }),
        }),
      )
      .min(1),
    next: nextLinks().optional(),
  })
  .meta({ description: "Assigns values to flow variables, converted to each variable's declared type" });

export interface Assignment {
  variable: string;
  value: CompiledExpression | { evaluate: () => unknown };
  source: string;
}

export const setVariable = defineActivity({
  type: "set-variable",
  schema,
  errorOutcomes: [],
  outcomes: () => ["default"],
  compile(def, ctx): Assignment[] {
    return def.assignments.map((assignment, index) => {
      ctx.assigns(assignment.variable);
      if (!ctx.variables.has(assignment.variable)) {
        ctx.problem(
          ["assignments", index, "variable"],
          `assigns undeclared variable "${assignment.variable}"`,
        );
      }
      const literal = assignment.value;
      const value =
        typeof literal === "string"
          ? ctx.valueTemplate(["assignments", index, "value"], literal)
          : { evaluate: () => structuredClone(literal) };
      return { variable: assignment.variable, value, source: `${ctx.activityId} assignment ${index}` };
    });
  },
  resolve(assignments, ctx) {
    return assignments.map((a) => ({
      variable: a.variable,
      value: a.value.evaluate(ctx.scope),
      source: a.source,
    }));
  },
  perform(resolved, ctx) {
    const converted = resolved.map((a) => ctx.coerceFor(a.variable, a.value, a.source));
    const assignments: Record<string, unknown> = {};
    resolved.forEach((a, index) => {
      ctx.assignCoerced(a.variable, converted[index]);
      assignments[a.variable] = converted[index];
    });
    return { outcome: "default", details: { assignments } };
  },
});
