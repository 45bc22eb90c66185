import { FlowrunError } from "../core/errors.js";

export const VARIABLE_TYPES = ["string", "integer", "decimal", "boolean", "datetime", "json"] as const;
export type VariableType = (typeof VARIABLE_TYPES)[number];

/** A value that cannot be converted to a variable's declared type. */
export class CoercionError extends FlowrunError {
  constructor(message: string) {
    super("coercion-failed", message);
    this.name = "CoercionError";
  }
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const DECIMAL_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// ISO 8601 date or date-time; a time needs an explicit offset or Z so that a run never depends on the host's zone.
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/;

export function describeValueType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Date) return "date";
  return typeof value;
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Converts `value` to `type`, the one rule every assignment follows (defaults, run inputs, set-variable,
 * parse settings). `null`/`undefined` always become null (an unset variable). `source` says where the value came
 * from, for the error message.
 */
export function coerce(value: unknown, type: VariableType, variable: string, source: string): unknown {
  if (value === null || value === undefined) return null;
  const converted = convert(value, type);
  if (converted === INVALID) {
    throw new CoercionError(
      `cannot assign ${describeValueType(value)} ${preview(value)} to variable "${variable}" of type ${type} (from ${source})`,
    );
  }
  return converted;
}

const INVALID = Symbol("invalid");

function convert(value: unknown, type: VariableType): unknown {
  switch (type) {
    case "string":
      if (typeof value === "string") return value;
      if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
        return String(value);
      if (value instanceof Date) return value.toISOString();
      return JSON.stringify(value);
    case "integer":
      if (typeof value === "number") return Number.isSafeInteger(value) ? value : INVALID;
      if (typeof value === "string") {
        const text = value.trim();
        if (!INTEGER_TEXT.test(text)) return INVALID;
        const n = Number(text);
        return Number.isSafeInteger(n) ? n : INVALID;
      }
      return INVALID;
    case "decimal":
      if (typeof value === "number") return Number.isFinite(value) ? value : INVALID;
      if (typeof value === "string") {
        const text = value.trim();
        return DECIMAL_TEXT.test(text) ? Number(text) : INVALID;
      }
      return INVALID;
    case "boolean":
      if (typeof value === "boolean") return value;
      if (typeof value === "string") {
        const text = value.trim().toLowerCase();
        if (text === "true") return true;
        if (text === "false") return false;
        return INVALID;
      }
      if (value === 1) return true;
      if (value === 0) return false;
      return INVALID;
    case "datetime": {
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? INVALID : value.toISOString();
      if (typeof value !== "string") return INVALID;
      const text = value.trim();
      if (!ISO_DATETIME.test(text) || Number.isNaN(Date.parse(text))) return INVALID;
      return text;
    }
    case "json":
      if (typeof value === "number" && !Number.isFinite(value)) return INVALID;
      if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint")
        return INVALID;
      return value;
  }
}
