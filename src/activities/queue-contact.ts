import { z } from "zod";
import { describeError } from "../core/errors.js";
import { defineActivity } from "../engine/activity.js";
import type { QueueContactAction } from "../engine/host.js";
import { nextLinks, templateString } from "../engine/schema-parts.js";

const schema = z
  .strictObject({
    type: z.literal("queue-contact"),
    description: z.string().optional(),
    queue: templateString("Name of the queue"),
    next: nextLinks().optional(),
  })
  .meta({ description: "Places the contact in a queue; a host that cannot queue takes the error outcome" });

export const queueContact = defineActivity({
  type: "queue-contact",
  schema,
  errorOutcomes: ["error"],
  outcomes: () => ["default", "error"],
  compile: (def, ctx) => ctx.template(["queue"], def.queue),
  resolve: (queue, ctx): QueueContactAction => ({
    type: "queue-contact",
    queue: queue.render(ctx.scope),
    activity: ctx.activityId,
  }),
  async perform(action, ctx) {
    try {
      await ctx.handlers.queueContact?.(action, ctx.signal);
    } catch (error) {
      const failure = { kind: "queue", message: describeError(error) };
      return { outcome: "error", error: failure, outputs: { error: failure } };
    }
    ctx.record(action);
    return { outcome: "default", details: { queue: action.queue } };
  },
});
