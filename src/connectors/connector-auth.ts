import type { Connector } from "./schema.js";
import type { ConnectorAuth, SecretReader } from "./types/descriptor.js";
import { connectorType } from "./types/index.js";

export type { ConnectorAuth, SecretReader } from "./types/descriptor.js";

/**
 * How a connector authorises requests ("how a request is authorised"), with secrets read through `secret`. Each
 * type declares it (src/connectors/types/), following its vendor's token endpoint.
 */
export function connectorAuth(connector: Connector, secret: SecretReader): ConnectorAuth {
  return connectorType(connector).authenticate(connector, secret);
}
