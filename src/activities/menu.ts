import { z } from "zod";
import { defineActivity } from "../engine/activity.js";
import type { MenuAction } from "../engine/host.js";
import { nextLinks, templateString } from "../engine/schema-parts.js";

const schema = z
  .strictObject({
    type: z.literal("menu"),
    description: z.string().optional(),
    prompt: templateString("What the caller hears before choosing"),
    choices: z
      .array(z.string().regex(/^[0-9*#]+$/, "a choice is made of the digits 0-9, * and #"))
      .min(1)
      .refine((choices) => new Set(choices).size === choices.length, "choices must be unique"),
    next: nextLinks("Choice, no-input or invalid -> id of the next activity"),
  })
  .meta({ description: "Plays a prompt and branches on the caller's DTMF input" });

export const menu = defineActivity({
  type: "menu",
  schema,
  // An unlinked no-input or invalid branch is a flow-level failure to handle the caller: onError catches it.
  errorOutcomes: ["no-input", "invalid"],
  outcomes: (def) => [...def.choices, "no-input", "invalid"],
  compile: (def, ctx) => ({ prompt: ctx.template(["prompt"], def.prompt), choices: def.choices }),
  resolve: (compiled, ctx): Omit<MenuAction, "input"> => ({
    type: "menu",
    activity: ctx.activityId,
    prompt: compiled.prompt.render(ctx.scope),
    choices: compiled.choices,
  }),
  async perform(request, ctx) {
    const answer = await ctx.handlers.menu?.(request, ctx.signal);
    const input = answer === undefined || answer === null || answer === "" ? null : String(answer);
    ctx.record({ ...request, input });
    const outcome = input === null ? "no-input" : request.choices.includes(input) ? input : "invalid";
    return { outcome, outputs: { input }, details: { prompt: request.prompt, input } };
  },
});
