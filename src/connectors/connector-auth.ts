import type { ClientAuthentication } from "./auth/client-auth.js";
import type { AuthSettings } from "./auth/strategies.js";
import { ConnectorError } from "./errors.js";
import type { Connector } from "./schema.js";
import { connectorEndpoints } from "./url-rules.js";

/** Reads one secret field of a connector (`auth.clientSecret`, `privateKey`, ...), resolved. */
export type SecretReader = (field: string) => string;

export interface ConnectorAuth {
  readonly auth: AuthSettings;
  /** Lifetime assumed when a token answer has no `expires_in` and the token is not a JWT, in seconds. */
  readonly defaultLifetimeSeconds: number;
  /** Salesforce without a base URL override: requests go to the token answer's `instance_url`. */
  readonly baseUrlFromToken: boolean;
}

/** An hour when the vendor documents nothing else. */
const DEFAULT_LIFETIME_SECONDS = 3600;
/** Salesforce answers no `expires_in`; its sessions last at least 15 minutes by default. */
const SALESFORCE_LIFETIME_SECONDS = 15 * 60;
/** Genesys OAuth connections' default token lifetime (seed 002). */
const GENESYS_LIFETIME_SECONDS = 86_400;
/** RFC 7523 assertions: Salesforce accepts at most 3 minutes, Google at most 1 hour. */
const SALESFORCE_ASSERTION_SECONDS = 180;
const GOOGLE_ASSERTION_SECONDS = 3600;

function requireUrl(url: string | undefined, connector: Connector, what: string): string {
  if (!url) throw new ConnectorError("connector-incomplete", `connector "${connector.name}" has no ${what}`);
  return url;
}

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  token_uri: string;
}

/** The uploaded Google service-account JSON key; messages name the connector and field, never the key. */
function readServiceAccountKey(text: string, connector: Connector): ServiceAccountKey {
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

type CustomOAuth2 = Extract<Extract<Connector, { type: "custom" }>["auth"], { type: "oauth2" }>;

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

/**
 * How each connector type authorises requests ("how a request is authorised"), with secrets read through
 * `secret`. Client authentication follows each vendor's token endpoint: Webex and Google take the client in the
 * form body, Genesys in a Basic header, custom connectors as configured (`clientAuth`).
 */
export function connectorAuth(connector: Connector, secret: SecretReader): ConnectorAuth {
  const endpoints = connectorEndpoints(connector);
  const plain = (auth: AuthSettings, defaultLifetimeSeconds = DEFAULT_LIFETIME_SECONDS): ConnectorAuth => ({
    auth,
    defaultLifetimeSeconds,
    baseUrlFromToken: false,
  });
  switch (connector.type) {
    case "custom": {
      const auth = connector.auth;
      if (auth.type === "basic")
        return plain({ kind: "basic", username: auth.username, password: secret("auth.password") });
      const client = customClient(auth, secret);
      if (auth.grantType === "password") {
        return plain({
          kind: "password",
          tokenUrl: auth.tokenUrl,
          client,
          username: auth.username,
          password: secret("auth.password"),
          scope: auth.scope,
        });
      }
      return plain({ kind: "client-credentials", tokenUrl: auth.tokenUrl, client, scope: auth.scope });
    }
    case "webex-contact-center":
    case "google-ccai":
      return plain({
        kind: "refresh-token",
        tokenUrl: connector.tokenUrl,
        client: { clientId: connector.clientId, clientSecret: secret("clientSecret"), clientAuth: "body" },
        refreshToken: secret("refreshToken"),
      });
    case "genesys": {
      const client = {
        clientId: connector.clientId,
        clientSecret: secret("clientSecret"),
        clientAuth: "basic" as const,
      };
      const tokenUrl = requireUrl(endpoints.tokenUrl, connector, "token URL");
      if (connector.grant === "authorization_code") {
        return plain(
          { kind: "refresh-token", tokenUrl, client, refreshToken: secret("refreshToken") },
          GENESYS_LIFETIME_SECONDS,
        );
      }
      return plain({ kind: "client-credentials", tokenUrl, client }, GENESYS_LIFETIME_SECONDS);
    }
    case "salesforce":
      return {
        auth: {
          kind: "jwt-bearer",
          tokenUrl: requireUrl(endpoints.tokenUrl, connector, "token URL"),
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
    case "google": {
      const key = readServiceAccountKey(secret("serviceAccountKey"), connector);
      return plain({
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
    }
    case "webex-experience-management":
      return plain({
        kind: "wxm-login",
        tokenUrl: requireUrl(endpoints.tokenUrl, connector, "token URL"),
        username: connector.username,
        apiKey: secret("apiKey"),
      });
  }
}
