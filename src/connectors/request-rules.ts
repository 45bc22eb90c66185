import { compileJsonPath } from "../engine/json-paths.js";
import { type Connector, DEFAULTS } from "./schema.js";
import type { HttpMethod } from "./seam.js";

/** Per-connector request rules the http-request activity and the auth strategies apply through the seam. */

const READ_ONLY_METHODS: readonly HttpMethod[] = ["GET", "HEAD", "OPTIONS"];

/** Methods the connector allows; undefined means every method. */
export function allowedMethods(connector: Connector): readonly HttpMethod[] | undefined {
  if (connector.type === "webex-contact-center" && connector.access === "read-only") return READ_ONLY_METHODS;
  return undefined;
}

/** Whether a response means the access token expired (`tokenExpiredStatuses`, default [401], or `tokenExpiredWhen` selecting a truthy value). */
export function isTokenExpired(connector: Connector, response: { status: number; json: unknown }): boolean {
  const statuses: readonly number[] = connector.tokenExpiredStatuses ?? DEFAULTS.tokenExpiredStatuses;
  if (statuses.includes(response.status)) return true;
  if (connector.tokenExpiredWhen === undefined || response.json === undefined || response.json === null)
    return false;
  // Same meaning as the connector handle: the path selects a truthy value.
  return compileJsonPath(connector.tokenExpiredWhen)
    .select(response.json)
    .some((value) => value !== false && value !== null && value !== undefined);
}
