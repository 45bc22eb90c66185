import { z } from "zod";
import { credentialSecrets } from "../../core/redact.js";
import type { ClientAuthentication } from "../auth/client-auth.js";
import { basicAuthorization } from "../auth/strategies.js";
import { CLIENT_AUTH_METHODS, checkClientAuth, commonFields, secretSchema, url } from "../schema-fields.js";
import { defineConnectorType, definedUrls, plainAuth, type SecretReader } from "./descriptor.js";

/** Custom connectors: any API, with HTTP Basic authentication or an OAuth 2.0 grant. */

const basicAuthSchema = z
  .strictObject({
    type: z.literal("basic"),
    username: z.string().min(1).meta({ description: "User name" }),
    password: secretSchema,
    validationUrl: url("URL called with GET to validate the credentials on save (optional)").optional(),
  })
  .meta({ description: "HTTP Basic authentication" });

const oauth2CommonFields = {
  type: z.literal("oauth2"),
  clientId: z.string().min(1).meta({ description: "OAuth 2.0 client id" }),
  clientSecret: secretSchema
    .optional()
    .meta({ description: "Client secret (basic, body, client_secret_jwt)" }),
  tokenUrl: url("Token endpoint of the authorization server"),
  scope: z.string().optional().meta({ description: "Scope requested with the token" }),
  clientAuth: z.enum(CLIENT_AUTH_METHODS).default("basic").meta({
    description:
      "How the client authenticates to the token URL: basic (header), body (form), private_key_jwt, client_secret_jwt, tls_client_auth or self_signed_tls_client_auth",
  }),
  privateKey: secretSchema
    .optional()
    .meta({ description: "PEM private key signing the private_key_jwt assertion" }),
  signingAlg: z.enum(["RS256", "PS256", "ES256", "HS256"]).optional().meta({
    description: "Assertion algorithm (default RS256 for private_key_jwt, HS256 for client_secret_jwt)",
  }),
  keyId: z
    .string()
    .min(1)
    .optional()
    .meta({ description: "`kid` header of the assertion (private_key_jwt)" }),
};

const oauth2ClientCredentialsSchema = z
  .strictObject({
    ...oauth2CommonFields,
    grantType: z.literal("client_credentials").default("client_credentials"),
  })
  .meta({ description: "OAuth 2.0 client credentials grant (default)" });

const oauth2PasswordSchema = z
  .strictObject({
    ...oauth2CommonFields,
    grantType: z.literal("password"),
    username: z.string().min(1).meta({ description: "Resource owner user name" }),
    password: secretSchema,
  })
  .meta({ description: "OAuth 2.0 resource owner password grant" });

const customAuthSchema = z.discriminatedUnion("type", [
  basicAuthSchema,
  z.discriminatedUnion("grantType", [oauth2ClientCredentialsSchema, oauth2PasswordSchema]),
]);

export const customConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("custom"),
    resourceDomainUrl: url("Base URL requests are built on (https://)"),
    auth: customAuthSchema,
  })
  .superRefine((connector, context) => {
    if (connector.auth.type === "oauth2")
      checkClientAuth(connector.auth, context, connector.tls?.cert !== undefined);
  })
  .meta({ description: "Custom connector: Basic auth or OAuth 2.0 (up to 10 per organisation)" });

type CustomConnector = z.output<typeof customConnectorSchema>;
type CustomOAuth2 = Extract<CustomConnector["auth"], { type: "oauth2" }>;

/** A custom OAuth 2.0 connector's client authentication, its secrets read. */
function customClient(auth: CustomOAuth2, secret: SecretReader): ClientAuthentication {
  const { clientId } = auth;
  switch (auth.clientAuth) {
    case "basic":
    case "body":
    case "client_secret_jwt":
      return { clientAuth: auth.clientAuth, clientId, clientSecret: secret("auth.clientSecret") };
    case "private_key_jwt":
      return {
        clientAuth: "private_key_jwt",
        clientId,
        privateKey: secret("auth.privateKey"),
        signingAlg: auth.signingAlg === "HS256" ? undefined : auth.signingAlg,
        keyId: auth.keyId,
      };
    case "tls_client_auth":
    case "self_signed_tls_client_auth":
      return { clientAuth: auth.clientAuth, clientId };
  }
}

export const custom = defineConnectorType({
  type: "custom",
  schema: customConnectorSchema,
  limitPerOrganisation: 10,
  secretPaths: [
    ["auth", "password"],
    ["auth", "clientSecret"],
    ["auth", "privateKey"],
  ],
  urls: (connector) =>
    definedUrls(
      ["resourceDomainUrl", connector.resourceDomainUrl],
      connector.auth.type === "basic"
        ? ["auth.validationUrl", connector.auth.validationUrl]
        : ["auth.tokenUrl", connector.auth.tokenUrl],
    ),
  endpoints: (connector) => ({
    baseUrl: connector.resourceDomainUrl,
    tokenUrl: connector.auth.type === "oauth2" ? connector.auth.tokenUrl : undefined,
  }),
  authenticate(connector, secret) {
    const auth = connector.auth;
    if (auth.type === "basic")
      return plainAuth({ kind: "basic", username: auth.username, password: secret("auth.password") });
    const client = customClient(auth, secret);
    if (auth.grantType === "password") {
      return plainAuth({
        kind: "password",
        tokenUrl: auth.tokenUrl,
        client,
        username: auth.username,
        password: secret("auth.password"),
        scope: auth.scope,
      });
    }
    return plainAuth({ kind: "client-credentials", tokenUrl: auth.tokenUrl, client, scope: auth.scope });
  },
  connectivityProbe(connector, secret) {
    if (connector.auth.type !== "basic") return undefined;
    const { validationUrl, username } = connector.auth;
    if (validationUrl === undefined) return "no-validation-url";
    return {
      field: "auth.validationUrl",
      url: validationUrl,
      credentials: () => {
        const authorization = basicAuthorization(username, secret("auth.password"));
        // The header, its base64, the decoded user:password and the password: every form a server may echo.
        return { headers: { authorization }, secrets: credentialSecrets(authorization) };
      },
    };
  },
  describe: (connector) =>
    connector.auth.type === "basic" ? "custom (basic)" : `custom (oauth2 ${connector.auth.grantType})`,
  replayPlaceholder(connector, field, throwawayKey) {
    if (field !== "auth.privateKey") return undefined;
    const es256 = "signingAlg" in connector.auth && connector.auth.signingAlg === "ES256";
    return throwawayKey(es256 ? "ec" : "rsa");
  },
});
