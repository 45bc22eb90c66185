import { z } from "zod";
import { defineActivity } from "../engine/activity.js";
import { activityId, nextLinks } from "../engine/schema-parts.js";

const schema = z
  .strictObject({
    type: z.literal("case"),
    description: z.string().optional(),
    expression: z
      .string()
      .min(1)
      .meta({ description: "Liquid expression whose value, as text, selects a case" }),
    cases: z.record(z.string(), activityId).meta({ description: "Value -> id of the next activity" }),
    next: nextLinks("default -> id of the activity when no case matches").optional(),
  })
  .meta({ description: "Branches on the text of an expression's value; no match takes the default outcome" });

function caseKey(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export const caseActivity = defineActivity({
  type: "case",
  schema,
  errorOutcomes: [],
  outcomes: (def) => [...Object.keys(def.cases), "default"],
  links: (def) => ({ ...def.cases, ...def.next }),
  compile(def, ctx) {
    const expression = ctx.expression(["expression"], def.expression);
    return { expression, values: new Set(Object.keys(def.cases)) };
  },
  resolve: ({ expression, values }, ctx) => {
    const value = caseKey(expression.evaluate(ctx.scope));
    return { value, outcome: values.has(value) ? value : "default" };
  },
  perform: ({ value, outcome }) => ({ outcome, details: { value } }),
});
