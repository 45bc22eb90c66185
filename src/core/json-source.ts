import { readFile } from "node:fs/promises";
import { FlowrunError } from "./errors.js";

/** A JSON document that could not be read or parsed; the message names the file, line and column. */
export class JsonSourceError extends FlowrunError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid-json", message, options);
    this.name = "JsonSourceError";
  }
}

/** Reads and parses a JSON file; `displayName` is how messages name it (default: the path as given). */
export async function readJsonFile(file: string, displayName = file): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (code ?? "unreadable");
    throw new JsonSourceError(`${displayName}: cannot read (${why})`);
  }
  return parseJsonText(text, displayName);
}

export function parseJsonText(text: string, source: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (error) {
    const offset = findSyntaxErrorOffset(body);
    const { line, column } = lineAndColumn(body, offset);
    const reason = (error as Error).message
      .replace(/ in JSON at position \d+.*$/s, "")
      .replace(/, ".*" is not valid JSON$/s, "");
    throw new JsonSourceError(`${source}:${line}:${column}: not valid JSON: ${reason}`);
  }
}

export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Thrown by the scanner with the offset of the first character that cannot belong to a JSON document. */
class SyntaxAt {
  constructor(readonly offset: number) {}
}

/** A recursive-descent JSON recogniser that only tracks where it is; used after JSON.parse failed. */
class JsonScanner {
  private i = 0;
  constructor(private readonly text: string) {}

  /** The offset of the first bad character; the text's length when the text is a JSON document. */
  scan(): number {
    try {
      this.value();
      this.whitespace();
      if (this.i < this.text.length) this.fail();
      return this.text.length;
    } catch (error) {
      if (error instanceof SyntaxAt) return Math.min(error.offset, this.text.length);
      throw error;
    }
  }

  private fail(): never {
    throw new SyntaxAt(this.i);
  }

  private whitespace(): void {
    while (this.i < this.text.length && " \t\n\r".includes(this.text[this.i]!)) this.i++;
  }

  private literal(word: string): void {
    for (const ch of word) {
      if (this.text[this.i] !== ch) this.fail();
      this.i++;
    }
  }

  private escape(): void {
    this.i++;
    const esc = this.text[this.i];
    if (esc === "u") {
      for (let k = 1; k <= 4; k++) {
        if (!/[0-9a-fA-F]/.test(this.text[this.i + k] ?? "")) {
          this.i += k;
          this.fail();
        }
      }
      this.i += 5;
    } else if (esc !== undefined && '"\\/bfnrt'.includes(esc)) this.i++;
    else this.fail();
  }

  private string(): void {
    this.i++;
    while (this.i < this.text.length) {
      const ch = this.text[this.i]!;
      if (ch === '"') {
        this.i++;
        return;
      }
      if (ch === "\\") this.escape();
      else if (ch.charCodeAt(0) < 0x20) this.fail();
      else this.i++;
    }
    this.fail();
  }

  private number(): void {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.i, this.i + 400));
    if (!match || match[0] === "" || match[0] === "-") this.fail();
    this.i += match[0].length;
  }

  /** Members or elements up to `close`, each read by `member`. */
  private sequence(close: "}" | "]", member: () => void): void {
    this.i++;
    this.whitespace();
    if (this.text[this.i] === close) {
      this.i++;
      return;
    }
    for (;;) {
      member();
      this.whitespace();
      if (this.text[this.i] === ",") this.i++;
      else if (this.text[this.i] === close) {
        this.i++;
        return;
      } else this.fail();
    }
  }

  private member(): void {
    this.whitespace();
    if (this.text[this.i] !== '"') this.fail();
    this.string();
    this.whitespace();
    if (this.text[this.i] !== ":") this.fail();
    this.i++;
    this.value();
  }

  private value(): void {
    this.whitespace();
    const ch = this.text[this.i];
    if (ch === "{") this.sequence("}", () => this.member());
    else if (ch === "[") this.sequence("]", () => this.value());
    else if (ch === '"') this.string();
    else if (ch === "t") this.literal("true");
    else if (ch === "f") this.literal("false");
    else if (ch === "n") this.literal("null");
    else if (ch === "-" || (ch !== undefined && ch >= "0" && ch <= "9")) this.number();
    else this.fail();
  }
}

/**
 * V8 on Node 20 does not always report where JSON.parse failed, so on failure a small scanner finds the offset
 * of the first character that cannot belong to a JSON document.
 */
export function findSyntaxErrorOffset(text: string): number {
  return new JsonScanner(text).scan();
}
