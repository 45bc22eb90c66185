import { createPrivateKey, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { AuthError } from "../errors.js";

export interface AssertionClaims {
  /** `iss`: Salesforce consumer key, or the Google service account's `client_email`. */
  readonly issuer: string;
  /** `sub`: the Salesforce user; absent for Google service accounts acting as themselves. */
  readonly subject?: string;
  /** `aud`: Salesforce authorization server URL, or Google's `token_uri`. */
  readonly audience: string;
  /** Google: space-separated scopes, carried as the `scope` claim. */
  readonly scope?: string;
  /** Seconds until `exp`: at most 180 for Salesforce, 3600 for Google. */
  readonly lifetimeSeconds: number;
}

const keys = new WeakMap<object, KeyObject>();

/** Reads a PEM private key (PKCS#8 or PKCS#1) once; the message never quotes the key. */
export function readPrivateKey(pem: string, owner: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new AuthError(`${owner}: the private key is not a readable PEM RSA private key`, {
      code: "credentials-unavailable",
    });
  }
  // createPrivateKey also reads EC/Ed25519 keys; RS256 cannot use them, and jose would fail later at signing
  // time with a JOSENotSupported error instead of an AuthError that names the connector.
  if (key.asymmetricKeyType !== "rsa") {
    throw new AuthError(
      `${owner}: the private key is not a readable PEM RSA private key (it is ${key.asymmetricKeyType ?? "not asymmetric"})`,
      { code: "credentials-unavailable" },
    );
  }
  return key;
}

/**
 * RFC 7523 section 3: the JWT's `iss`, `sub`, `aud`, `exp` (and `iat`), signed RS256 (RFC 7518 section 3.3) as
 * Salesforce and Google require. `jti` makes every assertion unique.
 */
export async function signAssertion(
  claims: AssertionClaims,
  key: KeyObject,
  now = Date.now(),
): Promise<string> {
  const issuedAt = Math.floor(now / 1000);
  const jwt = new SignJWT(claims.scope ? { scope: claims.scope } : {})
    .setProtectedHeader({ alg: "RS256", typ: "JWT" })
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + claims.lifetimeSeconds)
    .setJti(crypto.randomUUID());
  if (claims.subject) jwt.setSubject(claims.subject);
  return jwt.sign(key);
}

/** A key read once per settings object. */
export function cachedPrivateKey(settings: object, pem: string, owner: string): KeyObject {
  let key = keys.get(settings);
  if (!key) {
    key = readPrivateKey(pem, owner);
    keys.set(settings, key);
  }
  return key;
}
