import { z } from "zod";
import { builtinActivities } from "../activities/index.js";
import { connectorsFileSchema } from "../connectors/schema.js";
import { buildFlowSchema } from "../engine/flow-schema.js";
import { testFileSchema } from "../replay/test-file.js";

/** The JSON Schemas committed under `schema/`, generated from the zod schemas (`npm run schema`). */
export function jsonSchemas(): Record<string, unknown> {
  return {
    "flow.schema.json": z.toJSONSchema(buildFlowSchema(builtinActivities), {
      io: "input",
      unrepresentable: "any",
    }),
    "connectors.schema.json": z.toJSONSchema(connectorsFileSchema, { io: "input", unrepresentable: "any" }),
    "test.schema.json": z.toJSONSchema(testFileSchema, { io: "input", unrepresentable: "any" }),
  };
}

/** The text written for one schema file. */
export function schemaFileText(schema: unknown): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
