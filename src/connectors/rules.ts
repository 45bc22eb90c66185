import type { Problem } from "../core/errors.js";
import { formatPath, type PathSegment } from "../core/json-path.js";
import { zodProblems } from "../core/schema-problems.js";
import { ConnectorValidationError } from "./errors.js";
import { type Connector, type ConnectorsFile, type ConnectorType, connectorsFileSchema } from "./schema.js";
import { insecureSecretWarnings } from "./secrets.js";
import { CONNECTOR_TYPE_DESCRIPTORS, connectorType } from "./types/index.js";
import { connectorUrlProblems, type UrlRuleOptions } from "./url-rules.js";

/** Per-organisation limits, as each type declares them; types not listed are unlimited. */
export const CONNECTOR_LIMITS: Partial<Record<ConnectorType, number>> = Object.fromEntries(
  CONNECTOR_TYPE_DESCRIPTORS.flatMap((descriptor) =>
    descriptor.limitPerOrganisation === undefined ? [] : [[descriptor.type, descriptor.limitPerOrganisation]],
  ),
);

/** Names are compared case-insensitively (and Unicode-normalised, so "É" typed two ways is one name). */
export function nameKey(name: string): string {
  return name.normalize("NFC").trim().toLocaleLowerCase("en-US");
}

/**
 * Every problem of a parsed connectors document that the schema cannot see: duplicate ids and names, limits,
 * URL rules, CCAI configurations pointing at missing connectors; plus warnings for plain-text secrets.
 */
export function documentRuleProblems(document: ConnectorsFile): Problem[] {
  const problems: Problem[] = [];
  const ids = new Map<string, number>();
  const names = new Map<string, number>();
  const counts = new Map<ConnectorType, number>();
  document.connectors.forEach((connector, index) => {
    const at = (...rest: PathSegment[]) => formatPath(["connectors", index, ...rest]);
    const firstId = ids.get(connector.id);
    if (firstId !== undefined)
      problems.push(error(at("id"), `id ${connector.id} is already used by connectors[${firstId}]`));
    else ids.set(connector.id, index);
    const firstName = names.get(nameKey(connector.name));
    if (firstName !== undefined)
      problems.push(
        error(
          at("name"),
          `name "${connector.name}" is already used by connectors[${firstName}] (names are case-insensitive)`,
        ),
      );
    else names.set(nameKey(connector.name), index);
    const count = (counts.get(connector.type) ?? 0) + 1;
    counts.set(connector.type, count);
    const limit = CONNECTOR_LIMITS[connector.type];
    if (limit !== undefined && count === limit + 1)
      problems.push(
        error(at("type"), `more than ${limit} ${connector.type} connectors (the limit per organisation)`),
      );
    for (const urlProblem of connectorUrlProblems(connector))
      problems.push(error(at(...urlProblem.field.split(".")), urlProblem.message));
    problems.push(...insecureSecretWarnings(connector, ["connectors", index]));
  });
  document.ccaiConfigs?.forEach((config, index) => {
    const target = findConnector(document.connectors, config.connector);
    const where = formatPath(["ccaiConfigs", index, "connector"]);
    if (!target)
      problems.push(
        error(where, `CCAI configuration "${config.name}" refers to unknown connector "${config.connector}"`),
      );
    else if (!connectorType(target).servesCcaiConfigs)
      problems.push(
        error(
          where,
          `CCAI configuration "${config.name}" refers to "${target.name}", a ${target.type} connector (needs google-ccai)`,
        ),
      );
  });
  return problems;
}

/** Parses and checks a whole connectors document; throws ConnectorValidationError listing every error. */
export function parseConnectorsDocument(
  raw: unknown,
  source: string,
  /** Accepted for compatibility; see UrlRuleOptions. */
  _options: UrlRuleOptions = {},
): { document: ConnectorsFile; warnings: Problem[] } {
  const parsed = connectorsFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConnectorValidationError(zodProblems(parsed.error), source);
  const problems = documentRuleProblems(parsed.data);
  if (problems.some((p) => p.severity === "error")) throw new ConnectorValidationError(problems, source);
  return { document: parsed.data, warnings: problems };
}

/** Exact id first, then the name case-insensitively. */
export function findConnector(connectors: readonly Connector[], nameOrId: string): Connector | undefined {
  const byId = connectors.find((connector) => connector.id === nameOrId);
  if (byId) return byId;
  const key = nameKey(nameOrId);
  return connectors.find((connector) => nameKey(connector.name) === key);
}

function error(path: string, message: string): Problem {
  return { path, message, severity: "error" };
}
