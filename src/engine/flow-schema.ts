import { z } from "zod";
import type { ActivityDefinition } from "./activity.js";
import { activityId, variableDeclarationSchema } from "./schema-parts.js";

const envelopeFields = {
  $schema: z.string().optional(),
  name: z.string().min(1).meta({ description: "Name of the flow" }),
  description: z.string().optional(),
  variables: z
    .record(z.string(), variableDeclarationSchema)
    .optional()
    .meta({ description: "Flow variables by name, each with a type and an optional default" }),
  start: activityId.meta({ description: "Id of the first activity" }),
  onError: activityId.optional().meta({ description: "Where an error outcome without a link goes" }),
};

/** The top level of a flow; each activity is then checked against its own type's schema for precise paths. */
export const flowEnvelopeSchema = z.strictObject({
  ...envelopeFields,
  activities: z
    .record(z.string(), z.looseObject({ type: z.string() }))
    .meta({ description: "Activities by id" }),
});

/** The full flow schema, used to generate `schema/flow.schema.json` for editors. */
export function buildFlowSchema(activities: readonly ActivityDefinition[]) {
  const union = z.discriminatedUnion(
    "type",
    activities.map((activity) => activity.schema) as unknown as [z.ZodObject, ...z.ZodObject[]],
  );
  return z
    .strictObject({
      ...envelopeFields,
      activities: z.record(z.string(), union).meta({ description: "Activities by id" }),
    })
    .meta({ title: "flowrun flow", description: "A contact-center call flow run by flowrun" });
}
