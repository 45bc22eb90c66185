import { z } from "zod";
import { commonFields, secretSchema, url } from "../schema-fields.js";
import {
  type ConnectorEndpoints,
  defineConnectorType,
  definedUrls,
  requireUrl,
  trimSlash,
} from "./descriptor.js";

/** Salesforce: OAuth 2.0 JWT bearer grant; requests go to the instance the token answer names. */

export const SALESFORCE_AUTH_SERVER_URL = "https://login.salesforce.com";
/** Salesforce answers no `expires_in`; its sessions last at least 15 minutes by default. */
const SALESFORCE_LIFETIME_SECONDS = 15 * 60;
/** RFC 7523 assertions: Salesforce accepts at most 3 minutes. */
const SALESFORCE_ASSERTION_SECONDS = 180;

export const salesforceConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("salesforce"),
    clientId: z.string().min(1).meta({ description: "Consumer key of the connected app" }),
    username: z.string().min(1).meta({ description: "E-mail of the Salesforce user" }),
    authServerUrl: url("Authorization server URL; the JWT audience").default(SALESFORCE_AUTH_SERVER_URL),
    privateKey: secretSchema.meta({ description: "PEM private key signing the JWT assertion" }),
    tokenUrl: url("Token endpoint override (default {authServerUrl}/services/oauth2/token)").optional(),
    resourceDomainUrl: url("Base URL override (default: instance_url of the token response)").optional(),
  })
  .meta({ description: "Salesforce connector: OAuth 2.0 JWT bearer grant (up to 5 per organisation)" });

type SalesforceConnector = z.output<typeof salesforceConnectorSchema>;

function endpoints(connector: SalesforceConnector): ConnectorEndpoints {
  return {
    baseUrl: connector.resourceDomainUrl,
    tokenUrl: connector.tokenUrl ?? `${trimSlash(connector.authServerUrl)}/services/oauth2/token`,
  };
}

export const salesforce = defineConnectorType({
  type: "salesforce",
  schema: salesforceConnectorSchema,
  limitPerOrganisation: 5,
  secretPaths: [["privateKey"]],
  urls: (connector) =>
    definedUrls(
      ["authServerUrl", connector.authServerUrl],
      ["tokenUrl", connector.tokenUrl],
      ["resourceDomainUrl", connector.resourceDomainUrl],
    ),
  endpoints,
  authenticate(connector, secret) {
    return {
      auth: {
        kind: "jwt-bearer",
        tokenUrl: requireUrl(endpoints(connector).tokenUrl, connector, "token URL"),
        claims: {
          issuer: connector.clientId,
          subject: connector.username,
          audience: connector.authServerUrl,
          lifetimeSeconds: SALESFORCE_ASSERTION_SECONDS,
        },
        privateKey: secret("privateKey"),
      },
      defaultLifetimeSeconds: SALESFORCE_LIFETIME_SECONDS,
      baseUrlFromToken: connector.resourceDomainUrl === undefined,
    };
  },
  replayPlaceholder: (_connector, field, throwawayKey) =>
    field === "privateKey" ? throwawayKey("rsa") : undefined,
});
