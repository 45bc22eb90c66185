import { isSecretValue } from "./secrets.js";

type JsonObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * JSON Merge Patch (RFC 7396): objects merge, `null` removes a field, anything else replaces. One exception: a
 * secret reference replaces the previous one whole, so `{ "env": "X" }` over `{ "file": "f" }` is `{ "env": "X" }`
 * rather than an invalid mix of both.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  if (isSecretValue(patch) && isSecretValue(target)) return structuredClone(patch);
  const result: JsonObject = isPlainObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}
