// The TypeScript and JavaScript examples of README.md and docs/*.md, so that they cannot go stale. Every block is
// compiled; every `flowrun` name it imports must be an export of the package; blocks without `no-run` (after the
// language: ```ts no-run) are bundled against the source and run as a process, which must exit 0.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, transform } from "esbuild";
import { describe, expect, it } from "vitest";
import { startNode } from "../helpers/processes.js";
import { documentationBlocks } from "./markdown-blocks.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const blocks = documentationBlocks(root, ["ts", "js"]);
const outDir = path.join(root, "node_modules", ".cache", "flowrun-docs", `${process.pid}`);
const indexSource = readFileSync(path.join(root, "src/index.ts"), "utf8");

/** The names `src/index.ts` exports (values and types): `export { a, type B as C }` and `export type { D }`. */
const exportedNames = new Set(
  [...indexSource.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((match) =>
    match[1]!
      .split(",")
      .map((part) => part.replace(/\/\*\*.*?\*\//gs, "").trim())
      .filter((part) => part !== "")
      .map((part) =>
        part
          .replace(/^type\s+/, "")
          .split(/\s+as\s+/)
          .at(-1)!
          .trim(),
      ),
  ),
);

/** The names a block imports from "flowrun". */
function importedFromFlowrun(body: string): string[] {
  return [...body.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"flowrun"/g)].flatMap((match) =>
    match[1]!
      .split(",")
      .map((part) =>
        part
          .trim()
          .replace(/^type\s+/, "")
          .split(/\s+as\s+/)[0]!
          .trim(),
      )
      .filter((part) => part !== ""),
  );
}

const where = (block: { file: string; line: number }) => `${block.file}:${block.line}`;

describe("documentation code examples", () => {
  it("there are examples, and some of them run", () => {
    expect(blocks.length).toBeGreaterThan(3);
    expect(blocks.filter((block) => !block.meta.split(/\s+/).includes("no-run")).length).toBeGreaterThan(1);
  });

  it.each(blocks.map((block) => [where(block), block] as const))("%s compiles", async (_, block) => {
    await expect(
      transform(block.body, { loader: block.lang === "js" ? "js" : "ts", format: "esm" }),
    ).resolves.toBeDefined();
  });

  it.each(blocks.map((block) => [where(block), block] as const))(
    "%s imports only what flowrun exports",
    (_, block) => {
      for (const name of importedFromFlowrun(block.body)) expect(exportedNames, name).toContain(name);
    },
  );

  const runnable = blocks.filter((block) => !block.meta.split(/\s+/).includes("no-run"));
  it.each(runnable.map((block) => [where(block), block] as const))(
    "%s runs",
    async (_, block) => {
      mkdirSync(outDir, { recursive: true });
      const name = `${block.file.replace(/[/.]/g, "-")}-${block.line}`;
      const entry = path.join(outDir, `${name}.${block.lang}`);
      writeFileSync(entry, block.body);
      const outfile = path.join(outDir, `${name}.mjs`);
      await build({
        entryPoints: [entry],
        outfile,
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node20",
        packages: "external",
        alias: { flowrun: path.join(root, "src/index.ts") },
        logLevel: "error",
      });
      const exited = await startNode(outfile, [], { cwd: outDir }).exited;
      expect(exited.stderr).toBe("");
      expect(exited.code).toBe(0);
    },
    30_000,
  );
});
