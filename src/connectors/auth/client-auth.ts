import { assertionJwt, cachedPrivateKey, type SigningAlg } from "./jwt-assertion.js";
import type { ClientCredentials } from "./token-request.js";

/**
 * How a client authenticates to a token endpoint, as configured (secrets resolved). The shared-secret methods are
 * [RFC 6749 section 2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1); the JWT methods are
 * [RFC 7523 section 2.2](https://www.rfc-editor.org/rfc/rfc7523#section-2.2) under the names OpenID Connect Core
 * section 9 gives them; the certificate methods are [RFC 8705 section 2](https://www.rfc-editor.org/rfc/rfc8705#section-2),
 * where the TLS connection itself (the connector's `tls` certificate) authenticates the client.
 */
export type ClientAuthentication =
  | { readonly clientAuth: "basic" | "body"; readonly clientId: string; readonly clientSecret: string }
  | {
      readonly clientAuth: "client_secret_jwt";
      readonly clientId: string;
      readonly clientSecret: string;
    }
  | {
      readonly clientAuth: "private_key_jwt";
      readonly clientId: string;
      /** PEM private key (RSA for RS256/PS256, P-256 for ES256). */
      readonly privateKey: string;
      readonly signingAlg?: SigningAlg;
      readonly keyId?: string;
    }
  | { readonly clientAuth: "tls_client_auth" | "self_signed_tls_client_auth"; readonly clientId: string };

/** An assertion lives long enough to cross a slow network, and no longer: it is a bearer credential. */
const ASSERTION_LIFETIME_SECONDS = 60;

/** The signed `client_assertion` of a JWT method. */
export async function clientAssertion(
  client: Extract<ClientAuthentication, { clientAuth: "private_key_jwt" | "client_secret_jwt" }>,
  tokenUrl: string,
  owner: string,
  now = Date.now(),
): Promise<string> {
  // RFC 7523 section 3 for client authentication: iss and sub are the client, aud the token endpoint.
  const claims = {
    issuer: client.clientId,
    subject: client.clientId,
    audience: tokenUrl,
    lifetimeSeconds: ASSERTION_LIFETIME_SECONDS,
  };
  const jwt = assertionJwt(claims, now);
  if (client.clientAuth === "client_secret_jwt") {
    return jwt
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(client.clientSecret));
  }
  const { key, alg } = cachedPrivateKey(client, client.privateKey, owner, {
    alg: client.signingAlg,
    what: "the private_key_jwt privateKey",
  });
  return jwt
    .setProtectedHeader({ alg, typ: "JWT", ...(client.keyId ? { kid: client.keyId } : {}) })
    .sign(key);
}

/**
 * The client as a token request carries it: secrets as they are, a JWT method's assertion freshly signed (a new
 * `jti` for every request, as servers that track them demand), a certificate method as its client id alone.
 */
export async function presentClient(
  client: ClientAuthentication,
  tokenUrl: string,
  owner: string,
): Promise<ClientCredentials> {
  switch (client.clientAuth) {
    case "basic":
    case "body":
      return client;
    case "private_key_jwt":
    case "client_secret_jwt":
      return {
        clientAuth: "assertion",
        clientId: client.clientId,
        assertion: await clientAssertion(client, tokenUrl, owner),
      };
    case "tls_client_auth":
    case "self_signed_tls_client_auth":
      return { clientAuth: "certificate", clientId: client.clientId };
  }
}
