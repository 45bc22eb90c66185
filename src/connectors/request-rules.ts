import { JSONPath } from "jsonpath-plus";
import { type Connector, DEFAULTS } from "./schema.js";
import type { HttpMethod } from "./seam.js";

/** Per-connector request rules the http-request activity and the auth strategies apply through the seam. */

const READ_ONLY_METHODS: readonly HttpMethod[] = ["GET", "HEAD", "OPTIONS"];

/** Methods the connector allows; undefined means every method. */
export function allowedMethods(connector: Connector): readonly HttpMethod[] | undefined {
  if (connector.type === "webex-contact-center" && connector.access === "read-only") return READ_ONLY_METHODS;
  return undefined;
}

/** Whether a response means the access token expired (`tokenExpiredStatuses`, default [401], or `tokenExpiredWhen`). */
export function isTokenExpired(connector: Connector, response: { status: number; json: unknown }): boolean {
  const statuses: readonly number[] = connector.tokenExpiredStatuses ?? DEFAULTS.tokenExpiredStatuses;
  if (statuses.includes(response.status)) return true;
  if (connector.tokenExpiredWhen === undefined || response.json === undefined || response.json === null)
    return false;
  const json = response.json as object;
  const matches: unknown = JSONPath({ path: connector.tokenExpiredWhen, json, wrap: true, eval: "safe" });
  return Array.isArray(matches) && matches.length > 0;
}
