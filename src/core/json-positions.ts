import {
  findNodeAtLocation,
  type Node,
  type ParseError,
  ParseErrorCode,
  parse,
  parseTree,
} from "jsonc-parser";
import type { Problem } from "./errors.js";
import { type PathSegment, parsePath } from "./json-path.js";

/** A 1-based place in a text, as editors and compilers show it (`file:line:column`). */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/**
 * Where the values of one JSON text are, so that a problem found by JSON path (`$.activities.lookup.next`) can be
 * shown as `file:line:column`. jsonc-parser keeps each node's offset; JSON.parse keeps none.
 */
export class JsonPositions {
  readonly #text: string;
  readonly #tree: Node | undefined;
  #lineStarts: number[] | undefined;

  constructor(text: string) {
    this.#text = text;
    this.#tree = parseTree(text, [], { disallowComments: true });
  }

  /** The position of the value at `path` (a JSON path string or segments); its nearest existing parent's when absent. */
  at(path: string | readonly PathSegment[]): TextPosition {
    const segments = typeof path === "string" ? parsePath(path) : path;
    if (!this.#tree) return { line: 1, column: 1 };
    for (let length = segments.length; length >= 0; length--) {
      const node = findNodeAtLocation(this.#tree, segments.slice(0, length) as PathSegment[]);
      if (!node) continue;
      // A member's key is where a reader looks for it, not its value.
      const key = node.parent?.type === "property" ? node.parent.children?.[0] : undefined;
      return this.positionOf((key ?? node).offset);
    }
    return { line: 1, column: 1 };
  }

  positionOf(offset: number): TextPosition {
    this.#lineStarts ??= lineStarts(this.#text);
    return positionIn(this.#lineStarts, offset);
  }
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function positionIn(starts: readonly number[], offset: number): TextPosition {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle]! <= offset) low = middle;
    else high = middle - 1;
  }
  return { line: low + 1, column: offset - starts[low]! + 1 };
}

/** What a JSON syntax error means, in words (jsonc-parser's codes are identifiers). */
const SYNTAX_ERRORS: Partial<Record<ParseErrorCode, string>> = {
  [ParseErrorCode.InvalidSymbol]: "unexpected character",
  [ParseErrorCode.InvalidNumberFormat]: "invalid number",
  [ParseErrorCode.PropertyNameExpected]: "expected a field name in double quotes",
  [ParseErrorCode.ValueExpected]: "expected a value",
  [ParseErrorCode.ColonExpected]: 'expected ":"',
  [ParseErrorCode.CommaExpected]: 'expected "," or a closing bracket',
  [ParseErrorCode.CloseBraceExpected]: 'expected "}"',
  [ParseErrorCode.CloseBracketExpected]: 'expected "]"',
  [ParseErrorCode.EndOfFileExpected]: "unexpected text after the end of the document",
  [ParseErrorCode.InvalidCommentToken]: "comments are not allowed in JSON",
  [ParseErrorCode.UnexpectedEndOfComment]: "comments are not allowed in JSON",
  [ParseErrorCode.UnexpectedEndOfString]: "unterminated string",
  [ParseErrorCode.UnexpectedEndOfNumber]: "incomplete number",
  [ParseErrorCode.InvalidUnicode]: "invalid \\u escape",
  [ParseErrorCode.InvalidEscapeCharacter]: "invalid escape sequence",
  [ParseErrorCode.InvalidCharacter]: "control character in a string (escape it)",
};

/** The first syntax error of a text JSON.parse refused: where, and what is wrong, in plain words. */
export function firstSyntaxError(text: string): TextPosition & { message: string } {
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return { line: 1, column: 1, message: "not a JSON document" };
  return {
    ...positionIn(lineStarts(text), first.offset),
    message: SYNTAX_ERRORS[first.error] ?? "syntax error",
  };
}

/**
 * A document's problems as a compiler lists them, each at `source:line:column` and its JSON path, errors only
 * (warnings do not stop a run): the message `run` and `test` show for a flow that does not compile.
 */
/** `file:line:column path`: where a problem is, as every listing of problems shows it. */
export function problemLocation(problem: Problem, source: string, positions: JsonPositions): string {
  const { line, column } = positions.at(problem.path);
  return `${source}:${line}:${column} ${problem.path}`;
}

export function locatedProblemList(
  problems: readonly Problem[],
  source: string,
  positions: JsonPositions,
): string {
  const errors = problems.filter((problem) => problem.severity === "error");
  const lines = errors.map(
    (problem) => `  ${problemLocation(problem, source, positions)}: ${problem.message}`,
  );
  return `${source}: ${errors.length} problem${errors.length === 1 ? "" : "s"}:\n${lines.join("\n")}`;
}
