import { z } from "zod";
import { describeError } from "../core/errors.js";
import { compileJsonPath } from "../core/json-paths.js";

/** The building blocks every connector type's schema variant is made of (src/connectors/types/). */

/** Client authentication at the token endpoint (OpenID Connect Core 9, RFC 7523 2.2, RFC 8705 2). */
export const CLIENT_AUTH_METHODS = [
  "basic",
  "body",
  "private_key_jwt",
  "client_secret_jwt",
  "tls_client_auth",
  "self_signed_tls_client_auth",
] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** Response statuses that mean "token expired" unless a connector says otherwise. */
export const DEFAULT_TOKEN_EXPIRED_STATUSES: readonly number[] = [401];

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

export const url = (description: string) => z.string().min(1).meta({ description });

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

export const commonFields = {
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

/** Written by the engine with every rotated refresh token; a store never replaces a newer generation. */
export const refreshTokenGeneration = z.number().int().min(0).optional().meta({
  description:
    "How many times the engine rotated the stored refresh token (set by the engine; an older generation never replaces a newer one)",
});

/** What each client authentication method needs besides the client id. */
export function checkClientAuth(
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
