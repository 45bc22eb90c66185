import { createPrivateKey, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { AuthError } from "../errors.js";
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
      readonly signingAlg?: PrivateKeyAlg;
      readonly keyId?: string;
    }
  | { readonly clientAuth: "tls_client_auth" | "self_signed_tls_client_auth"; readonly clientId: string };

export type PrivateKeyAlg = "RS256" | "PS256" | "ES256";

/** An assertion lives long enough to cross a slow network, and no longer: it is a bearer credential. */
const ASSERTION_LIFETIME_SECONDS = 60;

const keys = new WeakMap<object, { key: KeyObject; alg: PrivateKeyAlg }>();

/** Reads the signing key once per configuration and checks it suits the algorithm; never quotes the key. */
function signingKey(
  client: Extract<ClientAuthentication, { clientAuth: "private_key_jwt" }>,
  owner: string,
): { key: KeyObject; alg: PrivateKeyAlg } {
  const known = keys.get(client);
  if (known) return known;
  const unusable = (why: string) =>
    new AuthError(`${owner}: the private_key_jwt privateKey ${why}`, { code: "credentials-unavailable" });
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: client.privateKey, format: "pem" });
  } catch {
    throw unusable("is not a readable PEM private key");
  }
  const type = key.asymmetricKeyType;
  const alg = client.signingAlg ?? (type === "ec" ? "ES256" : "RS256");
  const fits =
    alg === "ES256" ? type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1" : type === "rsa";
  if (!fits) throw unusable(`(${type ?? "not asymmetric"}) cannot sign ${alg}`);
  const entry = { key, alg };
  keys.set(client, entry);
  return entry;
}

/** RFC 7523 section 3 claims for client authentication: iss and sub are the client, aud the token endpoint. */
function assertionClaims(client: ClientAuthentication, tokenUrl: string, now: number): SignJWT {
  const issuedAt = Math.floor(now / 1000);
  return new SignJWT({})
    .setIssuer(client.clientId)
    .setSubject(client.clientId)
    .setAudience(tokenUrl)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ASSERTION_LIFETIME_SECONDS)
    .setJti(crypto.randomUUID());
}

/** The signed `client_assertion` of a JWT method. */
export async function clientAssertion(
  client: Extract<ClientAuthentication, { clientAuth: "private_key_jwt" | "client_secret_jwt" }>,
  tokenUrl: string,
  owner: string,
  now = Date.now(),
): Promise<string> {
  const jwt = assertionClaims(client, tokenUrl, now);
  if (client.clientAuth === "client_secret_jwt") {
    return jwt
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(client.clientSecret));
  }
  const { key, alg } = signingKey(client, owner);
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
