import { z } from "zod";
import { DEFAULT_TOKEN_EXPIRED_STATUSES } from "./schema-fields.js";
import { GOOGLE_RESOURCE_DOMAIN_URL, GOOGLE_SCOPES } from "./types/google.js";
import { GOOGLE_CCAI_RESOURCE_DOMAIN_URL, GOOGLE_CCAI_TOKEN_URL } from "./types/google-ccai.js";
import { CONNECTOR_TYPE_DESCRIPTORS, connectorVariantSchemas } from "./types/index.js";
import { SALESFORCE_AUTH_SERVER_URL } from "./types/salesforce.js";
import { WEBEX_CONTACT_CENTER_TOKEN_URL } from "./types/webex-contact-center.js";
import { WEBEX_EXPERIENCE_MANAGEMENT_RESOURCE_DOMAIN_URL } from "./types/webex-experience-management.js";

/**
 * The connector model as zod schemas: the source of truth for types, validation and the JSON Schema. Each type's
 * variant lives in its module of src/connectors/types/; this file joins them into the connectors file.
 */

export { type SecretValue, secretSchema } from "./schema-fields.js";
export { apiKeyConnectorSchema } from "./types/api-key.js";
export { customConnectorSchema } from "./types/custom.js";
export { genesysConnectorSchema } from "./types/genesys.js";
export { googleConnectorSchema } from "./types/google.js";
export { googleCcaiConnectorSchema } from "./types/google-ccai.js";
export { salesforceConnectorSchema } from "./types/salesforce.js";
export { webexContactCenterConnectorSchema } from "./types/webex-contact-center.js";
export { webexExperienceManagementConnectorSchema } from "./types/webex-experience-management.js";

export const CONNECTOR_TYPES: readonly ConnectorType[] = CONNECTOR_TYPE_DESCRIPTORS.map(
  (descriptor) => descriptor.type,
);
export type ConnectorType = Connector["type"];

/** The documented defaults, where each type module declares them. */
export const DEFAULTS = {
  webexContactCenterTokenUrl: WEBEX_CONTACT_CENTER_TOKEN_URL,
  salesforceAuthServerUrl: SALESFORCE_AUTH_SERVER_URL,
  googleResourceDomainUrl: GOOGLE_RESOURCE_DOMAIN_URL,
  googleScopes: GOOGLE_SCOPES,
  googleCcaiTokenUrl: GOOGLE_CCAI_TOKEN_URL,
  googleCcaiResourceDomainUrl: GOOGLE_CCAI_RESOURCE_DOMAIN_URL,
  webexExperienceManagementResourceDomainUrl: WEBEX_EXPERIENCE_MANAGEMENT_RESOURCE_DOMAIN_URL,
  tokenExpiredStatuses: DEFAULT_TOKEN_EXPIRED_STATUSES,
} as const;

export const connectorSchema = z
  .discriminatedUnion("type", connectorVariantSchemas())
  .meta({ description: "A connector: named, centrally stored credentials plus a base URL" });

export type Connector = z.infer<typeof connectorSchema>;
export type ConnectorInput = z.input<typeof connectorSchema>;

export const ccaiConfigSchema = z
  .strictObject({
    name: z.string().min(1).meta({ description: "Name of the CCAI configuration" }),
    connector: z.string().min(1).meta({ description: "Name or id of the google-ccai connector it uses" }),
  })
  .meta({
    description: "A CCAI configuration; while it exists, its google-ccai connector cannot be deleted",
  });
export type CcaiConfig = z.infer<typeof ccaiConfigSchema>;

export const connectorsFileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    connectors: z.array(connectorSchema).meta({ description: "The organisation's connectors" }),
    ccaiConfigs: z.array(ccaiConfigSchema).optional().meta({ description: "CCAI configurations" }),
  })
  .meta({ title: "flowrun connectors", description: "Connectors used by flowrun flows" });
export type ConnectorsFile = z.infer<typeof connectorsFileSchema>;
