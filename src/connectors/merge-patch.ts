import { isSecretValue } from "./secrets.js";

type JsonObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A secret reference replaces another one whole: `{ env }` merged into `{ file }` would be an invalid mix. */
function secretReplacesSecret(target: unknown, patch: unknown): boolean {
  return isSecretValue(patch) && isSecretValue(target);
}

/**
 * JSON Merge Patch (RFC 7396): objects merge, `null` removes a field, anything else replaces. One exception: a
 * secret reference replaces the previous one whole, so `{ "env": "X" }` over `{ "file": "f" }` is `{ "env": "X" }`
 * rather than an invalid mix of both.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch) || secretReplacesSecret(target, patch)) return structuredClone(patch);
  const result: JsonObject = isPlainObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/**
 * One merge patch with the effect of `first` then `second` (the CLI's `--stdin` patch, then its flags). Unlike
 * applying, composing keeps `null`: it still has to remove the field from the connector it is applied to. (An
 * object removed by `first` and set again by `second` merges into the connector's: RFC 7396 cannot say "replace".)
 */
export function composeMergePatches(first: JsonObject, second: JsonObject): JsonObject {
  const result: JsonObject = { ...first };
  for (const [key, value] of Object.entries(second)) {
    const existing = result[key];
    result[key] =
      isPlainObject(existing) && isPlainObject(value) && !secretReplacesSecret(existing, value)
        ? composeMergePatches(existing, value)
        : value;
  }
  return result;
}
