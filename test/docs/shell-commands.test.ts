import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliScript } from "../helpers/processes.js";
import { documentationBlocks, type MarkdownBlock } from "./markdown-blocks.js";

const root = path.resolve(import.meta.dirname, "../..");

interface DocCommand {
  readonly where: string;
  readonly command: string;
}

/**
 * The `npx flowrun` commands of a block, one per logical line (`\` continuations joined, comments skipped, an
 * `npm ci && ` before the command dropped: installing is the CI's own step).
 */
function flowrunCommands(block: MarkdownBlock): DocCommand[] {
  const commands: DocCommand[] = [];
  const lines = block.body.replace(/\\\n\s*/g, "").split("\n");
  lines.forEach((line, index) => {
    const start = line.indexOf("npx flowrun ");
    if (line.trimStart().startsWith("#") || start < 0) return;
    commands.push({ where: `${block.file}:${block.line + 1 + index}`, command: line.slice(start) });
  });
  return commands;
}

const commands = documentationBlocks(root, ["sh", "console"])
  .filter((block) => !block.meta.split(/\s+/).includes("no-run"))
  .flatMap(flowrunCommands);

/** What git sees as changed or new: a documented command must leave the working tree as it found it. */
const workingTree = () => execFileSync("git", ["status", "--porcelain"], { cwd: root, encoding: "utf8" });

describe("the docs' shell commands run as written (```sh no-run for ones needing servers or secrets)", () => {
  // The CLI bundled from the current source, as the other process tests run it: never a stale dist/.
  let cli: string;
  beforeAll(async () => {
    cli = await cliScript();
  });

  it("finds the documented commands", () => {
    expect(commands.map((c) => c.where)).toContain("README.md:19");
  });

  it.each(commands)("$where: $command", ({ command }) => {
    const before = workingTree();
    const temp = mkdtempSync(path.join(tmpdir(), "flowrun-docs-"));
    const run = spawnSync("sh", ["-c", command.replace(/^npx flowrun /, `node "${cli}" `)], {
      cwd: root,
      env: { ...process.env, TMPDIR: temp, NO_COLOR: "1" },
      encoding: "utf8",
    });
    expect(run.status, `${command}\n${run.stdout}\n${run.stderr}`).toBe(0);
    expect(workingTree()).toBe(before);
  });
});
