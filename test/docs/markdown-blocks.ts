import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** A fenced code block of a Markdown file, with where it starts, so a failing example names its line. */
export interface MarkdownBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The info string's first word (`ts`, `sh`, `json`, ...), "" when none. */
  lang: string;
  /** The rest of the info string, e.g. `no-run` in "```sh no-run". */
  meta: string;
  body: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/;

interface Fence {
  run: string;
  lang: string;
  meta: string;
}

function fenceOf(line: string): Fence | undefined {
  const match = FENCE.exec(line);
  return match ? { run: match[2] ?? "", lang: match[3] ?? "", meta: (match[4] ?? "").trim() } : undefined;
}

/** Every fenced block of one Markdown text, in order (CommonMark fences: ``` or ~~~, closed by the same run or longer). */
export function markdownBlocks(file: string, text: string): MarkdownBlock[] {
  const blocks: MarkdownBlock[] = [];
  const lines = text.split("\n");
  let open: { fence: string; line: number; lang: string; meta: string; body: string[] } | undefined;
  lines.forEach((line, index) => {
    const fence = fenceOf(line);
    if (open === undefined) {
      if (fence) open = { fence: fence.run, line: index + 1, lang: fence.lang, meta: fence.meta, body: [] };
      return;
    }
    const closes =
      fence !== undefined &&
      fence.lang === "" &&
      fence.meta === "" &&
      fence.run[0] === open.fence[0] &&
      fence.run.length >= open.fence.length;
    if (!closes) {
      open.body.push(line);
      return;
    }
    blocks.push({ file, line: open.line, lang: open.lang, meta: open.meta, body: open.body.join("\n") });
    open = undefined;
  });
  return blocks;
}

/** The blocks of README.md and every docs/*.md under `root`, filtered by language. */
export function documentationBlocks(root: string, langs: readonly string[]): MarkdownBlock[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => join("docs", name));
  return ["README.md", ...docs].flatMap((file) =>
    markdownBlocks(file, readFileSync(join(root, file), "utf8")).filter((block) =>
      langs.includes(block.lang),
    ),
  );
}
