import { z } from "zod";
import { commonFields, refreshTokenGeneration, secretSchema, url } from "../schema-fields.js";
import { defineConnectorType, definedUrls, plainAuth, requireUrl } from "./descriptor.js";

/** Genesys Cloud: client credentials, or a stored authorization-code connection (refresh token). */

/** Genesys OAuth connections' default token lifetime (seed 002). */
const GENESYS_LIFETIME_SECONDS = 86_400;

export const genesysConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("genesys"),
    environment: z
      .string()
      .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, "must be a host name such as mypurecloud.com")
      .meta({ description: "Genesys Cloud environment, e.g. mypurecloud.com" }),
    grant: z
      .enum(["client_credentials", "authorization_code"])
      .meta({ description: "client_credentials, or a stored authorization_code connection (refresh token)" }),
    clientId: z.string().min(1).meta({ description: "OAuth client id" }),
    clientSecret: secretSchema,
    refreshToken: secretSchema.optional().meta({ description: "Stored refresh token (authorization_code)" }),
    refreshTokenGeneration: refreshTokenGeneration,
    resourceDomainUrl: url("Base URL override (default https://api.{environment})").optional(),
    tokenUrl: url("Token endpoint override (default https://login.{environment}/oauth/token)").optional(),
  })
  .refine((connector) => connector.grant !== "authorization_code" || connector.refreshToken !== undefined, {
    message: "an authorization_code connection needs its stored refreshToken",
    path: ["refreshToken"],
  })
  .meta({ description: "Genesys Cloud connector" });

export const genesys = defineConnectorType({
  type: "genesys",
  schema: genesysConnectorSchema,
  secretPaths: [["clientSecret"], ["refreshToken"]],
  urls: (connector) =>
    definedUrls(["resourceDomainUrl", connector.resourceDomainUrl], ["tokenUrl", connector.tokenUrl]),
  endpoints: (connector) => ({
    baseUrl: connector.resourceDomainUrl ?? `https://api.${connector.environment}`,
    tokenUrl: connector.tokenUrl ?? `https://login.${connector.environment}/oauth/token`,
  }),
  // Genesys takes the client in a Basic header.
  authenticate(connector, secret) {
    const client = {
      clientId: connector.clientId,
      clientSecret: secret("clientSecret"),
      clientAuth: "basic" as const,
    };
    const tokenUrl = requireUrl(this.endpoints(connector).tokenUrl, connector, "token URL");
    if (connector.grant === "authorization_code")
      return plainAuth(
        { kind: "refresh-token", tokenUrl, client, refreshToken: secret("refreshToken") },
        GENESYS_LIFETIME_SECONDS,
      );
    return plainAuth({ kind: "client-credentials", tokenUrl, client }, GENESYS_LIFETIME_SECONDS);
  },
});
