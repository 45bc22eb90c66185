import { z } from "zod";
import { ConnectorError } from "../errors.js";
import { commonFields, secretSchema, url } from "../schema-fields.js";
import { defineConnectorType, definedUrls, plainAuth } from "./descriptor.js";

/** Google (text-to-speech): a service account's JWT bearer grant. */

export const GOOGLE_RESOURCE_DOMAIN_URL = "https://texttospeech.googleapis.com";
export const GOOGLE_SCOPES: readonly string[] = ["https://www.googleapis.com/auth/cloud-platform"];
/** RFC 7523 assertions: Google accepts at most 1 hour. */
const GOOGLE_ASSERTION_SECONDS = 3600;

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
      .default([...GOOGLE_SCOPES])
      .meta({ description: "OAuth scopes requested" }),
    resourceDomainUrl: url("Base URL").default(GOOGLE_RESOURCE_DOMAIN_URL),
    tokenUrl: url("Token endpoint override (default: token_uri of the key)").optional(),
  })
  .meta({ description: "Google connector (text-to-speech): JWT bearer grant (up to 5 per organisation)" });

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  token_uri: string;
}

/** The uploaded Google service-account JSON key; messages name the connector and field, never the key. */
function readServiceAccountKey(text: string, connector: { name: string }): ServiceAccountKey {
  const where = `serviceAccountKey of connector "${connector.name}"`;
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch {
    throw new ConnectorError("invalid-secret", `${where} is not a JSON service-account key`);
  }
  const record = (key ?? {}) as Record<string, unknown>;
  for (const field of ["client_email", "private_key", "token_uri"]) {
    if (typeof record[field] !== "string" || record[field] === "") {
      throw new ConnectorError("invalid-secret", `${where} has no ${field}`);
    }
  }
  return record as unknown as ServiceAccountKey;
}

export const google = defineConnectorType({
  type: "google",
  schema: googleConnectorSchema,
  limitPerOrganisation: 5,
  secretPaths: [["serviceAccountKey"]],
  urls: (connector) =>
    definedUrls(["resourceDomainUrl", connector.resourceDomainUrl], ["tokenUrl", connector.tokenUrl]),
  // Without an override the token URL is the key's token_uri, known only once the secret is resolved.
  endpoints: (connector) => ({ baseUrl: connector.resourceDomainUrl, tokenUrl: connector.tokenUrl }),
  authenticate(connector, secret) {
    const key = readServiceAccountKey(secret("serviceAccountKey"), connector);
    return plainAuth({
      kind: "jwt-bearer",
      tokenUrl: connector.tokenUrl ?? key.token_uri,
      claims: {
        issuer: key.client_email,
        audience: key.token_uri,
        scope: connector.scopes.join(" "),
        lifetimeSeconds: GOOGLE_ASSERTION_SECONDS,
      },
      privateKey: key.private_key,
    });
  },
  replayPlaceholder: (connector, field, throwawayKey) =>
    field === "serviceAccountKey"
      ? JSON.stringify({
          client_email: `replay@${connector.name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}.invalid`,
          private_key: throwawayKey("rsa"),
          token_uri: "https://oauth2.googleapis.com/token",
        })
      : undefined,
});
