import { z } from "zod";
import { describeError } from "../core/errors.js";
import { compileJsonPath } from "../core/json-paths.js";

/** The connector model as zod schemas: the source of truth for types, validation and the JSON Schema. */

/** Client authentication at the token endpoint (OpenID Connect Core 9, RFC 7523 2.2, RFC 8705 2). */
const CLIENT_AUTH_METHODS = [
  "basic",
  "body",
  "private_key_jwt",
  "client_secret_jwt",
  "tls_client_auth",
  "self_signed_tls_client_auth",
] as const;
type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

export const CONNECTOR_TYPES = [
  "custom",
  "webex-contact-center",
  "salesforce",
  "google",
  "google-ccai",
  "webex-experience-management",
  "genesys",
] as const;
export type ConnectorType = (typeof CONNECTOR_TYPES)[number];

export const DEFAULTS = {
  webexContactCenterTokenUrl: "https://webexapis.com/v1/access_token",
  salesforceAuthServerUrl: "https://login.salesforce.com",
  googleResourceDomainUrl: "https://texttospeech.googleapis.com",
  googleScopes: ["https://www.googleapis.com/auth/cloud-platform"],
  googleCcaiTokenUrl: "https://oauth2.googleapis.com/token",
  googleCcaiResourceDomainUrl: "https://dialogflow.googleapis.com",
  webexExperienceManagementResourceDomainUrl: "https://api.getcloudcherry.com",
  tokenExpiredStatuses: [401],
} as const;

export const secretSchema = z
  .union([
    z
      .string()
      .min(1)
      .meta({ description: "The secret itself (allowed, but flowrun warns: stored insecurely)" }),
    z
      .strictObject({ env: z.string().min(1).meta({ description: "Name of the environment variable" }) })
      .meta({ description: "Read the secret from an environment variable" }),
    z
      .strictObject({
        file: z.string().min(1).meta({ description: "Path of the file, relative to the connectors file" }),
      })
      .meta({ description: "Read the secret from a file (trailing newline removed)" }),
  ])
  .meta({ description: "A secret: a plain string (insecure), { env: NAME } or { file: PATH }" });
export type SecretValue = z.infer<typeof secretSchema>;

const url = (description: string) => z.string().min(1).meta({ description });

/**
 * Enterprise networks and stronger credentials, the same for every connector type: an outbound proxy, a client
 * certificate (mutual TLS), and how strictly a token answer's token_type is read.
 */
const enterpriseFields = {
  strictTokenType: z.boolean().optional().meta({
    description:
      "Refuse a token answer without token_type (default false: it is taken as Bearer and the run's trace says so)",
  }),
  proxy: z
    .strictObject({
      url: z
        .string()
        .min(1)
        .refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), {
          message: "must be an http:// or https:// proxy URL",
        })
        .refine((text) => !URL.canParse(text) || (!new URL(text).username && !new URL(text).password), {
          message: "must not carry credentials; use username and password (a secret reference)",
        })
        .meta({
          description: "The proxy, e.g. http://proxy.corp.example:3128 (https targets go through CONNECT)",
        }),
      username: z
        .string()
        .min(1)
        .optional()
        .meta({ description: "Proxy user name (Basic proxy authentication)" }),
      password: secretSchema.optional().meta({ description: "Proxy password" }),
    })
    .refine((proxy) => (proxy.username === undefined) === (proxy.password === undefined), {
      message: "username and password go together",
    })
    .optional()
    .meta({
      description: "Outbound proxy for this connector's requests; overrides HTTPS_PROXY/HTTP_PROXY/NO_PROXY",
    }),
  tls: z
    .strictObject({
      cert: secretSchema.optional().meta({ description: "Client certificate chain, PEM" }),
      key: secretSchema.optional().meta({ description: "Private key of the client certificate, PEM" }),
      passphrase: secretSchema.optional().meta({ description: "Passphrase of an encrypted key" }),
      ca: secretSchema
        .optional()
        .meta({ description: "CA bundle, PEM, trusted for this connector's servers" }),
    })
    .refine((tls) => (tls.cert === undefined) === (tls.key === undefined), {
      message: "cert and key go together",
    })
    .optional()
    .meta({ description: "Mutual TLS: the client certificate presented to the API and the token endpoint" }),
};

const commonFields = {
  ...enterpriseFields,
  id: z.string().min(1).meta({ description: "Generated on creation; can never change" }),
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .meta({ description: "Name flows use to refer to the connector; unique, case-insensitive" }),
  status: z
    .enum(["active", "inactive"])
    .default("active")
    .meta({ description: "Only inactive connectors can be edited or deleted; flows halt on inactive ones" }),
  description: z.string().optional().meta({ description: "Free text for administrators" }),
  propagateTraceContext: z.boolean().optional().meta({
    description:
      "Send the W3C Trace Context headers (traceparent, tracestate) of the run's trace with this connector's requests (default false)",
  }),
  tokenExpiredStatuses: z
    .array(z.number().int().min(100).max(599))
    .min(1)
    .optional()
    .meta({ description: "Response statuses that mean the token expired (default [401])" }),
  tokenExpiredWhen: z
    .string()
    .superRefine((text, context) => {
      try {
        compileJsonPath(text);
      } catch (error) {
        context.addIssue({ code: "custom", message: describeError(error) });
      }
    })
    .optional()
    .meta({
      description:
        "JSON path on the response body; selecting a truthy value means the token expired (APIs that report expiry in a 200)",
    }),
};

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

/** What each client authentication method needs besides the client id. */
function checkClientAuth(
  auth: { clientAuth: ClientAuthMethod; clientSecret?: unknown; privateKey?: unknown; signingAlg?: string },
  context: z.RefinementCtx,
  hasCertificate: boolean,
): void {
  const needs = (field: string, message: string) =>
    context.addIssue({ code: "custom", path: ["auth", field], message });
  if (["basic", "body", "client_secret_jwt"].includes(auth.clientAuth) && auth.clientSecret === undefined)
    needs("clientSecret", `clientAuth ${auth.clientAuth} needs a clientSecret`);
  if (auth.clientAuth === "private_key_jwt") {
    if (auth.privateKey === undefined) needs("privateKey", "clientAuth private_key_jwt needs a privateKey");
    if (auth.signingAlg === "HS256") needs("signingAlg", "private_key_jwt signs with RS256, PS256 or ES256");
  }
  if (auth.clientAuth === "client_secret_jwt" && auth.signingAlg !== undefined && auth.signingAlg !== "HS256")
    needs("signingAlg", "client_secret_jwt signs with HS256");
  if (auth.clientAuth.endsWith("tls_client_auth") && !hasCertificate)
    needs("clientAuth", `clientAuth ${auth.clientAuth} needs the connector's tls.cert and tls.key`);
}

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

/** Written by the engine with every rotated refresh token; a store never replaces a newer generation. */
const refreshTokenGeneration = z.number().int().min(0).optional().meta({
  description:
    "How many times the engine rotated the stored refresh token (set by the engine; an older generation never replaces a newer one)",
});

export const webexContactCenterConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("webex-contact-center"),
    access: z.enum(["read-only", "read-write"]).meta({
      description: "read-only allows only GET, HEAD and OPTIONS; read-write allows every method",
    }),
    clientId: z.string().min(1).meta({ description: "Webex integration client id" }),
    clientSecret: secretSchema,
    refreshToken: secretSchema,
    refreshTokenGeneration: refreshTokenGeneration,
    tokenUrl: url("Token endpoint").default(DEFAULTS.webexContactCenterTokenUrl),
    resourceDomainUrl: url("Webex Contact Center API base URL, e.g. https://api.wxcc-us1.cisco.com"),
  })
  .meta({ description: "Webex Contact Center connector: the platform's own APIs (refresh-token grant)" });

export const salesforceConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("salesforce"),
    clientId: z.string().min(1).meta({ description: "Consumer key of the connected app" }),
    username: z.string().min(1).meta({ description: "E-mail of the Salesforce user" }),
    authServerUrl: url("Authorization server URL; the JWT audience").default(
      DEFAULTS.salesforceAuthServerUrl,
    ),
    privateKey: secretSchema.meta({ description: "PEM private key signing the JWT assertion" }),
    tokenUrl: url("Token endpoint override (default {authServerUrl}/services/oauth2/token)").optional(),
    resourceDomainUrl: url("Base URL override (default: instance_url of the token response)").optional(),
  })
  .meta({ description: "Salesforce connector: OAuth 2.0 JWT bearer grant (up to 5 per organisation)" });

export const googleConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("google"),
    serviceAccountKey: secretSchema.meta({
      description: "The service-account JSON key (client_email, private_key, token_uri)",
    }),
    scopes: z
      .array(z.string().min(1))
      .min(1)
      .default([...DEFAULTS.googleScopes])
      .meta({ description: "OAuth scopes requested" }),
    resourceDomainUrl: url("Base URL").default(DEFAULTS.googleResourceDomainUrl),
    tokenUrl: url("Token endpoint override (default: token_uri of the key)").optional(),
  })
  .meta({ description: "Google connector (text-to-speech): JWT bearer grant (up to 5 per organisation)" });

export const googleCcaiConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("google-ccai"),
    clientId: z.string().min(1).meta({ description: "OAuth client id used for Sign in with Google" }),
    clientSecret: secretSchema,
    refreshToken: secretSchema.meta({ description: 'Refresh token obtained by "Sign in with Google"' }),
    refreshTokenGeneration: refreshTokenGeneration,
    project: z.string().min(1).meta({ description: "Google Cloud project id" }),
    serviceAccount: z.string().min(1).meta({ description: "Service account e-mail" }),
    tokenUrl: url("Token endpoint").default(DEFAULTS.googleCcaiTokenUrl),
    resourceDomainUrl: url("Base URL").default(DEFAULTS.googleCcaiResourceDomainUrl),
  })
  .meta({
    description: "Google CCAI connector: refresh-token grant; not deletable while a CCAI config uses it",
  });

export const webexExperienceManagementConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("webex-experience-management"),
    username: z.string().min(1).meta({ description: "Experience Management user name" }),
    apiKey: secretSchema.meta({ description: "API key (sent as the password of the login)" }),
    resourceDomainUrl: url("Base URL").default(DEFAULTS.webexExperienceManagementResourceDomainUrl),
    tokenUrl: url("Token endpoint override (default {resourceDomainUrl}/api/LoginToken)").optional(),
  })
  .meta({ description: "Webex Experience Management connector (only one per organisation)" });

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

export const connectorSchema = z
  .discriminatedUnion("type", [
    customConnectorSchema,
    webexContactCenterConnectorSchema,
    salesforceConnectorSchema,
    googleConnectorSchema,
    googleCcaiConnectorSchema,
    webexExperienceManagementConnectorSchema,
    genesysConnectorSchema,
  ])
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
