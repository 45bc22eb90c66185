import { z } from "zod";
import { defineActivity } from "../engine/activity.js";

const schema = z
  .strictObject({ type: z.literal("end-flow"), description: z.string().optional() })
  .meta({ description: "Ends the run completed" });

export const endFlow = defineActivity({
  type: "end-flow",
  schema,
  errorOutcomes: [],
  outcomes: () => [],
  compile: () => undefined,
  resolve: () => undefined,
  perform: () => ({ outcome: null, end: true }),
});
