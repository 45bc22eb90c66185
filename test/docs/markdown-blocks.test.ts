import { describe, expect, it } from "vitest";
import { documentationBlocks, markdownBlocks } from "./markdown-blocks.js";

describe("markdown code blocks", () => {
  it("finds fenced blocks with their language, info string and starting line", () => {
    const text = [
      "# t",
      "```sh no-run",
      "npx flowrun run a",
      "```",
      "text",
      "~~~ts",
      "const a = 1;",
      "```",
      "~~~",
    ].join("\n");
    expect(markdownBlocks("x.md", text)).toEqual([
      { file: "x.md", line: 2, lang: "sh", meta: "no-run", body: "npx flowrun run a" },
      { file: "x.md", line: 6, lang: "ts", meta: "", body: "const a = 1;\n```" },
    ]);
  });

  it("reads the README and every docs page", () => {
    const blocks = documentationBlocks(process.cwd(), ["sh"]);
    expect(blocks.some((block) => block.file === "README.md")).toBe(true);
    expect(blocks.every((block) => block.lang === "sh")).toBe(true);
  });
});
