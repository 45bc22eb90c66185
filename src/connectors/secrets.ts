import { readFileSync } from "node:fs";
import path from "node:path";
import type { Problem } from "../core/errors.js";
import { formatPath } from "../core/json-path.js";
import { ConnectorError } from "./errors.js";
import type { Connector, SecretValue } from "./schema.js";
import { findConnectorType } from "./types/index.js";

/** Secrets every connector type may hold: proxy credentials and the client certificate's parts. */
const NETWORK_SECRET_PATHS: readonly (readonly string[])[] = [
  ["proxy", "password"],
  ["tls", "cert"],
  ["tls", "key"],
  ["tls", "passphrase"],
  ["tls", "ca"],
];

/** Where a connector of this type keeps its secrets (an unknown type: only the network secrets). */
export function secretFieldPaths(type: string): readonly (readonly string[])[] {
  return [...(findConnectorType(type)?.secretPaths ?? []), ...NETWORK_SECRET_PATHS];
}

export interface SecretField {
  /** Dotted field name within the connector, e.g. `auth.clientSecret`. */
  readonly field: string;
  readonly path: readonly string[];
  readonly value: SecretValue;
}

/** The secrets a connector holds (only the fields that are set). */
export function secretFields(connector: Connector): SecretField[] {
  const fields: SecretField[] = [];
  for (const fieldPath of secretFieldPaths(connector.type)) {
    const value = valueAt(connector, fieldPath);
    if (isSecretValue(value)) fields.push({ field: fieldPath.join("."), path: fieldPath, value });
  }
  return fields;
}

export function isSecretValue(value: unknown): value is SecretValue {
  if (typeof value === "string") return true;
  if (typeof value !== "object" || value === null) return false;
  const keys = Object.keys(value);
  return (
    keys.length === 1 &&
    (typeof (value as { env?: unknown }).env === "string" ||
      typeof (value as { file?: unknown }).file === "string")
  );
}

export interface SecretContext {
  /** Environment variables for `{ env }` secrets. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory of the connectors file; `{ file }` secrets are relative to it. */
  readonly baseDir: string;
}

/**
 * The secret's value. An unresolvable secret is a ConnectorError that names the connector and the field (and the
 * variable or file it looked for), never the value.
 */
export function resolveSecret(
  connector: Pick<Connector, "name">,
  field: string,
  value: SecretValue,
  context: SecretContext,
): string {
  const where = `secret ${field} of connector "${connector.name}"`;
  if (typeof value === "string") return value;
  if ("env" in value) {
    const resolved = context.env[value.env];
    if (resolved === undefined || resolved === "")
      throw new ConnectorError(
        "secret-unresolved",
        `${where}: environment variable ${value.env} is not set`,
        {
          fixable: { code: "secret-env-unset", connector: connector.name, field, env: value.env },
        },
      );
    return resolved;
  }
  const file = path.resolve(context.baseDir, value.file);
  const unreadable = (problem: string, message: string) =>
    new ConnectorError("secret-unresolved", `${where}: ${message}`, {
      fixable: {
        code: "secret-file-unreadable",
        connector: connector.name,
        field,
        file: value.file,
        problem,
      },
    });
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw unreadable(code, `cannot read file ${value.file} (${code})`);
  }
  // Editors and `echo` add a final newline that is never part of a secret.
  const trimmed = text.replace(/\r?\n$/, "");
  if (trimmed === "") throw unreadable("empty", `file ${value.file} is empty`);
  return trimmed;
}

/** How a secret is shown to people: where it comes from, never what it is. */
export function maskSecret(value: SecretValue): string {
  if (typeof value === "string") return "••••";
  if ("env" in value) return `env:${value.env}`;
  return `file:${value.file}`;
}

/** A copy of the connector for display, with every secret replaced by its mask. */
export function maskConnector(connector: Connector): Record<string, unknown> {
  const copy = structuredClone(connector) as unknown as Record<string, unknown>;
  for (const secret of secretFields(connector)) setValueAt(copy, secret.path, maskSecret(secret.value));
  return copy;
}

/** A warning for each secret stored as plain text in the file. */
export function insecureSecretWarnings(
  connector: Connector,
  pathPrefix: (string | number)[] = [],
): Problem[] {
  return secretFields(connector)
    .filter((secret) => typeof secret.value === "string")
    .map((secret) => ({
      path: formatPath([...pathPrefix, ...secret.path]),
      severity: "warning" as const,
      message: `secret ${secret.field} of connector "${connector.name}" is stored insecurely as plain text; use { "env": NAME } or { "file": PATH }`,
    }));
}

export function valueAt(root: unknown, fieldPath: readonly string[]): unknown {
  let current: unknown = root;
  for (const key of fieldPath) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Sets the value at `fieldPath` inside `root` when its parents exist (secret paths are at most two deep). */
export function setValueAt(
  root: Record<string, unknown>,
  fieldPath: readonly string[],
  value: unknown,
): void {
  let current: Record<string, unknown> = root;
  for (const key of fieldPath.slice(0, -1)) {
    const next = current[key];
    if (typeof next !== "object" || next === null) return;
    current = next as Record<string, unknown>;
  }
  current[fieldPath[fieldPath.length - 1]!] = value;
}
