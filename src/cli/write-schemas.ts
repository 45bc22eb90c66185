import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { jsonSchemas, schemaFileText } from "./json-schemas.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const folder = path.join(root, "schema");
await mkdir(folder, { recursive: true });
for (const [name, schema] of Object.entries(jsonSchemas())) {
  await writeFile(path.join(folder, name), schemaFileText(schema));
  process.stdout.write(`wrote schema/${name}\n`);
}
