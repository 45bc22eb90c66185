import { z } from "zod";
import { defineActivity } from "../engine/activity.js";
import type { BlindTransferAction } from "../engine/host.js";
import { templateString } from "../engine/schema-parts.js";

const schema = z
  .strictObject({
    type: z.literal("blind-transfer"),
    description: z.string().optional(),
    destination: templateString("Number or address the call is transferred to"),
  })
  .meta({ description: "Transfers the call and ends the run completed" });

export const blindTransfer = defineActivity({
  type: "blind-transfer",
  schema,
  errorOutcomes: [],
  outcomes: () => [],
  compile: (def, ctx) => ctx.template(["destination"], def.destination),
  resolve: (destination, ctx): BlindTransferAction => ({
    type: "blind-transfer",
    destination: destination.render(ctx.scope),
    activity: ctx.activityId,
  }),
  async perform(action, ctx) {
    ctx.record(action);
    await ctx.handlers.blindTransfer?.(action, ctx.signal);
    return { outcome: null, end: true, details: { destination: action.destination } };
  },
});
