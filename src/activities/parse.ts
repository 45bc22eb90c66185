import { z } from "zod";
import { defineActivity } from "../engine/activity.js";
import { applyParseSettings, compileParseSettings } from "../engine/parse-settings.js";
import { nextLinks, parseSettingSchema, templateString } from "../engine/schema-parts.js";

const schema = z
  .strictObject({
    type: z.literal("parse"),
    description: z.string().optional(),
    input: templateString("Text to parse, e.g. {{ account }}"),
    contentType: z.literal("application/json").default("application/json"),
    parseSettings: z.array(parseSettingSchema),
    next: nextLinks().optional(),
  })
  .meta({ description: "Parses JSON text and writes JSON-path-selected fields into flow variables" });

export const parse = defineActivity({
  type: "parse",
  schema,
  errorOutcomes: ["error"],
  outcomes: () => ["success", "error"],
  compile: (def, ctx) => ({
    input: ctx.template(["input"], def.input),
    settings: compileParseSettings(def.parseSettings, ["parseSettings"], ctx),
  }),
  resolve: (compiled, ctx) => ({ text: compiled.input.render(ctx.scope), settings: compiled.settings }),
  perform({ text, settings }, ctx) {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      const failure = { kind: "parse", message: `input is not JSON: ${(error as Error).message}` };
      return { outcome: "error", error: failure, outputs: { error: failure } };
    }
    const applied = applyParseSettings(settings, document, ctx);
    if ("error" in applied) {
      const failure = { kind: "parse", message: applied.error };
      return { outcome: "error", error: failure, outputs: { json: document, error: failure } };
    }
    return {
      outcome: "success",
      outputs: { json: document },
      details: { assignments: applied.assignments, unmatchedPaths: applied.unmatchedPaths },
    };
  },
});
