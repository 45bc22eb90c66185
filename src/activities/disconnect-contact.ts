import { z } from "zod";
import { defineActivity } from "../engine/activity.js";
import type { DisconnectContactAction } from "../engine/host.js";

const schema = z
  .strictObject({ type: z.literal("disconnect-contact"), description: z.string().optional() })
  .meta({ description: "Hangs up and ends the run completed" });

export const disconnectContact = defineActivity({
  type: "disconnect-contact",
  schema,
  errorOutcomes: [],
  outcomes: () => [],
  compile: () => undefined,
  resolve: (_compiled, ctx): DisconnectContactAction => ({
    type: "disconnect-contact",
    activity: ctx.activityId,
  }),
  async perform(action, ctx) {
    ctx.record(action);
    await ctx.handlers.disconnectContact?.(action, ctx.signal);
    return { outcome: null, end: true };
  },
});
