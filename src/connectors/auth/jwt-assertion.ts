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

/** The asymmetric algorithms an assertion may be signed with (RFC 7518 section 3.1). */
export type SigningAlg = "RS256" | "PS256" | "ES256";

const keys = new WeakMap<object, { key: KeyObject; alg: SigningAlg }>();

/**
 * Reads a PEM private key (PKCS#8 or PKCS#1) and checks it can sign `alg` (default: ES256 for a P-256 key, else
 * RS256); jose would otherwise fail only at signing time, with an error that names no connector. `what` names the
 * key in messages, which never quote it.
 */
export function readPrivateKey(
  pem: string,
  owner: string,
  options: { alg?: SigningAlg; what?: string } = {},
): { key: KeyObject; alg: SigningAlg } {
  const what = options.what ?? "the private key";
  const unusable = (why: string) =>
    new AuthError(`${owner}: ${what} ${why}`, { code: "credentials-unavailable" });
  // A use that admits RSA keys only (the JWT bearer grants) says so in its messages.
  const rsaOnly = options.alg === "RS256" || options.alg === "PS256";
  const kind = rsaOnly ? "PEM RSA private key" : "PEM private key";
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw unusable(`is not a readable ${kind}`);
  }
  const type = key.asymmetricKeyType ?? "not asymmetric";
  const alg = options.alg ?? (type === "ec" ? "ES256" : "RS256");
  const fits =
    alg === "ES256" ? type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1" : type === "rsa";
  if (!fits)
    throw unusable(
      rsaOnly && type !== "rsa"
        ? `is not a readable ${kind} (it is ${type})`
        : `(${type}) cannot sign ${alg}`,
    );
  return { key, alg };
}

/**
 * RFC 7523 section 3: the JWT's `iss`, `sub`, `aud`, `exp` (and `iat`); `jti` makes every assertion unique. Signed
 * by the caller with the header its use requires.
 */
export function assertionJwt(claims: AssertionClaims, now = Date.now()): SignJWT {
  const issuedAt = Math.floor(now / 1000);
  const jwt = new SignJWT(claims.scope ? { scope: claims.scope } : {})
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + claims.lifetimeSeconds)
    .setJti(crypto.randomUUID());
  if (claims.subject) jwt.setSubject(claims.subject);
  return jwt;
}

/** The JWT bearer grant's assertion, signed RS256 (RFC 7518 section 3.3) as Salesforce and Google require. */
export async function signAssertion(
  claims: AssertionClaims,
  key: KeyObject,
  now = Date.now(),
): Promise<string> {
  return assertionJwt(claims, now).setProtectedHeader({ alg: "RS256", typ: "JWT" }).sign(key);
}

/** A key read (and checked) once per settings object. */
export function cachedPrivateKey(
  settings: object,
  pem: string,
  owner: string,
  options: { alg?: SigningAlg; what?: string } = { alg: "RS256" },
): { key: KeyObject; alg: SigningAlg } {
  let entry = keys.get(settings);
  if (!entry) {
    entry = readPrivateKey(pem, owner, options);
    keys.set(settings, entry);
  }
  return entry;
}
