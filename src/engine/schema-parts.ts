import { z } from "zod";
import { VARIABLE_TYPES } from "./variables.js";

/** Building blocks shared by the flow schema and the activity schemas. */

export const templateString = (description: string) =>
  z.string().meta({ description: `${description} (Liquid template)` });

export const activityId = z.string().min(1).meta({ description: "Id of an activity in this flow" });

export const nextLinks = (description = "Outcome -> id of the next activity") =>
  z.record(z.string(), activityId).meta({ description });

export const parseSettingSchema = z.strictObject({
  outputVariable: z.string().min(1).meta({ description: "Declared flow variable that receives the value" }),
  pathExpression: z
    .string()
    .min(1)
    .meta({ description: "JSON path into the JSON document, starting with $" }),
  default: z.unknown().optional().meta({ description: "Value used when the path matches nothing" }),
  required: z
    .boolean()
    .optional()
    .meta({ description: "No match (and no default) fails the activity with kind parse" }),
});
export type ParseSettingDefinition = z.infer<typeof parseSettingSchema>;

export const variableDeclarationSchema = z.strictObject({
  type: z.enum(VARIABLE_TYPES),
  default: z.unknown().optional(),
  description: z.string().optional(),
});
