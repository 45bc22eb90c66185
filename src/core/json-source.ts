import { readFile } from "node:fs/promises";
import { FlowrunError } from "./errors.js";
import { firstSyntaxError } from "./json-positions.js";

/** A JSON document that could not be read or parsed; the message names the file, line and column. */
export class JsonSourceError extends FlowrunError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid-json", message, options);
    this.name = "JsonSourceError";
  }
}

/** Reads and parses a JSON file; `displayName` is how messages name it (default: the path as given). */
export async function readJsonFile(file: string, displayName = file): Promise<unknown> {
  return (await readJsonSource(file, displayName)).value;
}

/** The file's text with its parsed value, for messages that point at a line and column of it. */
export async function readJsonSource(
  file: string,
  displayName = file,
): Promise<{ text: string; value: unknown }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (code ?? "unreadable");
    throw new JsonSourceError(`${displayName}: cannot read (${why})`);
  }
  return { text, value: parseJsonText(text, displayName) };
}

export function parseJsonText(text: string, source: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch {
    // V8's own message quotes the text around the error and varies by version: the reader gets ours.
    const { line, column, message } = firstSyntaxError(body);
    throw new JsonSourceError(`${source}:${line}:${column}: not valid JSON: ${message}`);
  }
}
