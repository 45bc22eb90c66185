import { z } from "zod";
import { commonFields, secretSchema, url } from "../schema-fields.js";
import {
  type ConnectorEndpoints,
  defineConnectorType,
  definedUrls,
  plainAuth,
  requireUrl,
  trimSlash,
} from "./descriptor.js";

/** Webex Experience Management: a LoginToken obtained with the user name and API key. */

export const WEBEX_EXPERIENCE_MANAGEMENT_RESOURCE_DOMAIN_URL = "https://api.getcloudcherry.com";

export const webexExperienceManagementConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("webex-experience-management"),
    username: z.string().min(1).meta({ description: "Experience Management user name" }),
    apiKey: secretSchema.meta({ description: "API key (sent as the password of the login)" }),
    resourceDomainUrl: url("Base URL").default(WEBEX_EXPERIENCE_MANAGEMENT_RESOURCE_DOMAIN_URL),
    tokenUrl: url("Token endpoint override (default {resourceDomainUrl}/api/LoginToken)").optional(),
  })
  .meta({ description: "Webex Experience Management connector (only one per organisation)" });

type WebexExperienceManagementConnector = z.output<typeof webexExperienceManagementConnectorSchema>;

function endpoints(connector: WebexExperienceManagementConnector): ConnectorEndpoints {
  return {
    baseUrl: connector.resourceDomainUrl,
    tokenUrl: connector.tokenUrl ?? `${trimSlash(connector.resourceDomainUrl)}/api/LoginToken`,
  };
}

export const webexExperienceManagement = defineConnectorType({
  type: "webex-experience-management",
  schema: webexExperienceManagementConnectorSchema,
  limitPerOrganisation: 1,
  secretPaths: [["apiKey"]],
  urls: (connector) =>
    definedUrls(["resourceDomainUrl", connector.resourceDomainUrl], ["tokenUrl", connector.tokenUrl]),
  endpoints,
  authenticate(connector, secret) {
    return plainAuth({
      kind: "wxm-login",
      tokenUrl: requireUrl(endpoints(connector).tokenUrl, connector, "token URL"),
      username: connector.username,
      apiKey: secret("apiKey"),
    });
  },
});
