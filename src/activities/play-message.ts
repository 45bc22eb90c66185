import { z } from "zod";
import { defineActivity } from "../engine/activity.js";
import type { PlayMessageAction } from "../engine/host.js";
import { nextLinks, templateString } from "../engine/schema-parts.js";

const schema = z
  .strictObject({
    type: z.literal("play-message"),
    description: z.string().optional(),
    prompt: templateString("What the caller hears"),
    next: nextLinks().optional(),
  })
  .meta({ description: "Plays a prompt to the caller" });

export const playMessage = defineActivity({
  type: "play-message",
  schema,
  errorOutcomes: [],
  outcomes: () => ["default"],
  compile: (def, ctx) => ctx.template(["prompt"], def.prompt),
  resolve: (prompt, ctx): PlayMessageAction => ({
    type: "play-message",
    activity: ctx.activityId,
    prompt: prompt.render(ctx.scope),
  }),
  async perform(action, ctx) {
    ctx.record(action);
    await ctx.handlers.playMessage?.(action, ctx.signal);
    return { outcome: "default", details: { prompt: action.prompt } };
  },
});
