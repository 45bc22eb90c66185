import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ConnectorType } from "../../src/connectors/schema.js";

/** Minimal valid connector inputs (no id, as given to `create`), one per shape. */
export function connectorInput(type: ConnectorType | "custom-oauth2" | "custom-password", name: string) {
  switch (type) {
    case "custom":
      return {
        name,
        type: "custom",
        resourceDomainUrl: "https://crm.example.com",
        auth: { type: "basic", username: "flows", password: { env: "CRM_PASSWORD" } },
      };
    case "custom-oauth2":
      return {
        name,
        type: "custom",
        resourceDomainUrl: "https://crm.example.com",
        auth: {
          type: "oauth2",
          clientId: "flows",
          clientSecret: { env: "CRM_SECRET" },
          tokenUrl: "https://auth.example.com/oauth/token",
        },
      };
    case "custom-password":
      return {
        name,
        type: "custom",
        resourceDomainUrl: "https://crm.example.com",
        auth: {
          type: "oauth2",
          grantType: "password",
          clientId: "flows",
          clientSecret: { env: "CRM_SECRET" },
          tokenUrl: "https://auth.example.com/oauth/token",
          username: "ivr",
          password: { env: "CRM_PASSWORD" },
        },
      };
    case "webex-contact-center":
      return {
        name,
        type,
        access: "read-write",
        clientId: "c",
        clientSecret: { env: "WX_SECRET" },
        refreshToken: { env: "WX_REFRESH" },
        resourceDomainUrl: "https://api.wxcc-us1.cisco.com",
      };
    case "salesforce":
      return { name, type, clientId: "key", username: "u@example.com", privateKey: { env: "SF_KEY" } };
    case "google":
      return { name, type, serviceAccountKey: { env: "GOOGLE_KEY" } };
    case "google-ccai":
      return {
        name,
        type,
        clientId: "c",
        clientSecret: { env: "CCAI_SECRET" },
        refreshToken: { env: "CCAI_REFRESH" },
        project: "p",
        serviceAccount: "sa@p.iam.gserviceaccount.com",
      };
    case "webex-experience-management":
      return { name, type, username: "u", apiKey: { env: "WXM_KEY" } };
    case "genesys":
      return {
        name,
        type,
        environment: "mypurecloud.com",
        grant: "client_credentials",
        clientId: "c",
        clientSecret: { env: "GENESYS_SECRET" },
      };
    case "api-key":
      return { name, type, resourceDomainUrl: "https://api.example.com", apiKey: { env: "API_KEY" } };
  }
}

export async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "flowrun-connectors-"));
}
