import type { HttpMethod } from "../core/http-types.js";
import { type CompiledJsonPath, compileJsonPath } from "../core/json-paths.js";
import type { Connector } from "./schema.js";
import { DEFAULT_TOKEN_EXPIRED_STATUSES } from "./schema-fields.js";
import { connectorType } from "./types/index.js";

/** Per-connector request rules the http-request activity and the auth strategies apply through the seam. */

/** Methods the connector allows; undefined means every method. */
export function allowedMethods(connector: Connector): readonly HttpMethod[] | undefined {
  return connectorType(connector).allowedMethods?.(connector);
}

export type TokenExpiryCheck = (response: { status: number; json: unknown }) => boolean;

/**
 * Whether a response means the access token expired: its status is one of `statuses`, or `when` (a JSON path on
 * the body, for APIs that report expiry in a 200) selects a truthy value.
 */
export function tokenExpiryCheck(
  statuses: readonly number[],
  when: CompiledJsonPath | undefined,
): TokenExpiryCheck {
  return ({ status, json }) => {
    if (statuses.includes(status)) return true;
    if (!when || json === undefined || json === null) return false;
    return when.select(json).some((value) => value !== false && value !== null && value !== undefined);
  };
}

/** The connector's expiry settings with the default applied and the JSON path compiled. */
export function connectorExpirySettings(connector: Connector): {
  statuses: readonly number[];
  when: CompiledJsonPath | undefined;
} {
  return {
    statuses: connector.tokenExpiredStatuses ?? DEFAULT_TOKEN_EXPIRED_STATUSES,
    when: connector.tokenExpiredWhen === undefined ? undefined : compileJsonPath(connector.tokenExpiredWhen),
  };
}

/** Whether a response means the connector's access token expired (`tokenExpiredStatuses`, `tokenExpiredWhen`). */
export function isTokenExpired(connector: Connector, response: { status: number; json: unknown }): boolean {
  const { statuses, when } = connectorExpirySettings(connector);
  return tokenExpiryCheck(statuses, when)(response);
}
