import { Agent } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { AuthError } from "../../../src/connectors/errors.js";
import { ConnectorRegistry } from "../../../src/connectors/registry.js";
import { registryResolver } from "../../../src/connectors/registry-resolver.js";
import type { ConnectorsFile } from "../../../src/connectors/schema.js";
import { TokenCache } from "../../../src/connectors/token-cache.js";
import { callWithin, rsaKeyPair } from "../../helpers/auth.js";

// Failures found before anything is sent carry stable codes a host can branch on (token answers: token-response.test.ts).
const agent = new Agent();
afterAll(() => agent.close());

const document = {
  connectors: [
    {
      id: "00000000-0000-4000-8000-000000000001",
      name: "CRM",
      type: "custom",
      status: "active",
      resourceDomainUrl: "https://crm.example.com",
      auth: {
        type: "oauth2",
        grantType: "client_credentials",
        clientId: "flows",
        clientSecret: { env: "CRM_SECRET" },
        tokenUrl: "https://auth.example.com/token",
      },
    },
    {
      id: "00000000-0000-4000-8000-000000000002",
      name: "Google TTS",
      type: "google",
      status: "active",
      serviceAccountKey: { env: "GOOGLE_KEY" },
      resourceDomainUrl: "https://tts.example.com",
    },
  ],
} as ConnectorsFile;

async function authorizeFailure(connector: string, env: Record<string, string>): Promise<AuthError> {
  const resolver = registryResolver(new ConnectorRegistry(document), { tokenCache: new TokenCache(), env });
  try {
    const error = await resolver
      .resolve(connector)!
      .authorize(callWithin(agent, 2000))
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    expect(error).toBeInstanceOf(AuthError);
    return error as AuthError;
  } finally {
    resolver.close();
  }
}

describe("AuthError codes before any token request", () => {
  it("a secret that cannot be resolved: credentials-unavailable", async () => {
    const error = await authorizeFailure("CRM", {});
    expect(error.code).toBe("credentials-unavailable");
    expect(error.message).toContain("CRM_SECRET");
  });

  it("a Google key whose token_uri breaks the https rule: insecure-token-url", async () => {
    const key = { client_email: "a@b.iam.gserviceaccount.com", private_key: rsaKeyPair().privateKey };
    const error = await authorizeFailure("Google TTS", {
      GOOGLE_KEY: JSON.stringify({ ...key, token_uri: "http://oauth2.example.test/token" }),
    });
    expect(error.code).toBe("insecure-token-url");
  });

  it("a private key that is not RSA PEM: credentials-unavailable", async () => {
    const error = await authorizeFailure("Google TTS", {
      GOOGLE_KEY: JSON.stringify({
        client_email: "a@b.iam.gserviceaccount.com",
        private_key: "not a key",
        token_uri: "https://oauth2.example.test/token",
      }),
    });
    expect(error.code).toBe("credentials-unavailable");
  });
});
