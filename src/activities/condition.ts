import { z } from "zod";
import { defineActivity } from "../engine/activity.js";
import { isTruthy } from "../engine/expressions.js";

const schema = z
  .strictObject({
    type: z.literal("condition"),
    description: z.string().optional(),
    expression: z.string().min(1).meta({ description: "Liquid expression, e.g. balance > 100 and isVip" }),
    next: z
      .strictObject({ true: z.string().min(1).optional(), false: z.string().min(1).optional() })
      .meta({ description: "Activity ids for the true and false outcomes" }),
  })
  .meta({
    description: "Takes the true or false outcome by Liquid truthiness (only false and nil are false)",
  });

export const condition = defineActivity({
  type: "condition",
  schema,
  errorOutcomes: [],
  outcomes: () => ["true", "false"],
  compile: (def, ctx) => ctx.expression(["expression"], def.expression),
  resolve: (expression, ctx) => isTruthy(expression.evaluate(ctx.scope), ctx.scope),
  perform: (truthy) => ({ outcome: truthy ? "true" : "false" }),
});
