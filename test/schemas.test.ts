import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { jsonSchemas, schemaFileText } from "../src/cli/json-schemas.js";

const schemaFolder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../schema");

describe("committed JSON Schemas", () => {
  it("covers the flow, connectors and fixture test schemas", () => {
    expect(Object.keys(jsonSchemas()).sort()).toEqual([
      "connectors.schema.json",
      "flow.schema.json",
      "test.schema.json",
    ]);
  });

  for (const [name, schema] of Object.entries(jsonSchemas())) {
    it(`schema/${name} matches the zod schema (run npm run schema when this fails)`, async () => {
      const committed = await readFile(path.join(schemaFolder, name), "utf8");
      expect(committed).toBe(schemaFileText(schema));
    });
  }
});
