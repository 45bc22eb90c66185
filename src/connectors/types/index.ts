import type { Connector } from "../schema.js";
import { apiKey } from "./api-key.js";
import { custom } from "./custom.js";
import type { AnyConnectorTypeDescriptor, ConnectorTypeDescriptor } from "./descriptor.js";
import { genesys } from "./genesys.js";
import { google } from "./google.js";
import { googleCcai } from "./google-ccai.js";
import { salesforce } from "./salesforce.js";
import { webexContactCenter } from "./webex-contact-center.js";
import { webexExperienceManagement } from "./webex-experience-management.js";

/** Every connector type flowrun knows: adding a type is one module in this folder and one line here. */
export const CONNECTOR_TYPE_DESCRIPTORS = [
  custom,
  webexContactCenter,
  salesforce,
  google,
  googleCcai,
  webexExperienceManagement,
  genesys,
  apiKey,
] as const;

/** The schema variants of the list, in its order (the discriminated union of the connectors file). */
export type ConnectorVariantSchemas = SchemasOf<typeof CONNECTOR_TYPE_DESCRIPTORS>;
type SchemasOf<T extends readonly { schema: unknown }[]> = { -readonly [K in keyof T]: T[K]["schema"] };

export function connectorVariantSchemas(): ConnectorVariantSchemas {
  return CONNECTOR_TYPE_DESCRIPTORS.map((descriptor) => descriptor.schema) as ConnectorVariantSchemas;
}

const BY_TYPE: ReadonlyMap<string, AnyConnectorTypeDescriptor> = new Map(
  CONNECTOR_TYPE_DESCRIPTORS.map((descriptor) => [descriptor.type, descriptor as AnyConnectorTypeDescriptor]),
);

/** The descriptor of a type name; undefined for a name flowrun does not know (a stored document from elsewhere). */
export function findConnectorType(type: string): AnyConnectorTypeDescriptor | undefined {
  return BY_TYPE.get(type);
}

/**
 * The descriptor of a parsed connector, typed for it: the schema guarantees its type is in the list, and the
 * descriptor found is the one whose schema parsed it.
 */
export function connectorType(connector: Connector): ConnectorTypeDescriptor<Connector> {
  const descriptor = BY_TYPE.get(connector.type);
  if (!descriptor) throw new TypeError(`unknown connector type ${connector.type}`);
  return descriptor as unknown as ConnectorTypeDescriptor<Connector>;
}
