import { createHash } from "node:crypto";
import type { FixedCredentials } from "../../core/connector-seam.js";
import { type ClientAuthentication, presentClient } from "./client-auth.js";
import { type AssertionClaims, cachedPrivateKey, signAssertion } from "./jwt-assertion.js";
import { requestToken, type TokenEndpointCall } from "./token-endpoint.js";
import {
  clientCredentialsRequest,
  jwtBearerRequest,
  passwordRequest,
  refreshTokenRequest,
  type TokenRequest,
  wxmLoginRequest,
} from "./token-request.js";
import type { TokenSet } from "./token-set.js";

/**
 * How one connector authorises requests, with every secret already resolved. Connector types map onto these
 * (see connector-auth.ts); each kind cites the document it follows.
 */
export type AuthSettings =
  /** RFC 7617: `Authorization: Basic base64(user:password)`; no token endpoint. */
  | { kind: "basic"; username: string; password: string }
  /** RFC 6749 section 4.4 (custom OAuth 2.0, Genesys client credentials). */
  | { kind: "client-credentials"; tokenUrl: string; client: ClientAuthentication; scope?: string }
  /** RFC 6749 section 4.3 (custom OAuth 2.0 password grant). */
  | {
      kind: "password";
      tokenUrl: string;
      client: ClientAuthentication;
      username: string;
      password: string;
      scope?: string;
    }
  /** RFC 6749 section 6 (Webex Contact Center, Google CCAI, Genesys authorization-code connections). */
  | { kind: "refresh-token"; tokenUrl: string; client: ClientAuthentication; refreshToken: string }
  /** RFC 7523 section 2.1 (Salesforce, Google service accounts). */
  | { kind: "jwt-bearer"; tokenUrl: string; claims: AssertionClaims; privateKey: string }
  /** Webex Experience Management LoginToken. */
  | { kind: "wxm-login"; tokenUrl: string; username: string; apiKey: string }
  /** A key in a request header (`headerName` lower-case, `value` with its prefix); no token endpoint. */
  | { kind: "static-header"; headerName: string; value: string };

export type TokenlessAuthSettings = Extract<AuthSettings, { kind: "basic" | "static-header" }>;
export type TokenAuthSettings = Exclude<AuthSettings, TokenlessAuthSettings>;

/** Settings that send their credentials with every request instead of obtaining a token. */
export function isTokenless(settings: AuthSettings): settings is TokenlessAuthSettings {
  return settings.kind === "basic" || settings.kind === "static-header";
}

/** How a trace names tokenless settings. */
export function fixedCredentialsOf(settings: TokenlessAuthSettings): FixedCredentials {
  return settings.kind === "basic" ? "basic" : "key";
}

/** The headers tokenless settings add to every request. */
export function tokenlessHeaders(settings: TokenlessAuthSettings): Record<string, string> {
  if (settings.kind === "basic")
    return { authorization: basicAuthorization(settings.username, settings.password) };
  return { [settings.headerName]: settings.value };
}

/**
 * A hash of the settings that identify a credential, so that an edited connector can never be served a token
 * obtained with its old settings. The refresh token is left out: the server rotates it, and a rotation must not
 * orphan the token it came with (an admin's edit of it drops the connector's tokens anyway, see the registry).
 */
export function fingerprint(settings: AuthSettings): string {
  const material = settings.kind === "refresh-token" ? { ...settings, refreshToken: undefined } : settings;
  return createHash("sha256").update(JSON.stringify(material)).digest("base64url").slice(0, 22);
}

/** RFC 7617 section 2: user-id and password joined by ":" in UTF-8, base64-encoded. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

async function buildTokenRequest(settings: TokenAuthSettings, owner: string): Promise<TokenRequest> {
  switch (settings.kind) {
    case "client-credentials": {
      const client = await presentClient(settings.client, settings.tokenUrl, owner);
      return clientCredentialsRequest(settings.tokenUrl, client, settings.scope);
    }
    case "password": {
      const client = await presentClient(settings.client, settings.tokenUrl, owner);
      return passwordRequest(settings.tokenUrl, client, settings, settings.scope);
    }
    case "refresh-token": {
      const client = await presentClient(settings.client, settings.tokenUrl, owner);
      return refreshTokenRequest(settings.tokenUrl, client, settings.refreshToken);
    }
    case "jwt-bearer": {
      const { key } = cachedPrivateKey(settings, settings.privateKey, owner);
      return jwtBearerRequest(settings.tokenUrl, await signAssertion(settings.claims, key));
    }
    case "wxm-login":
      return wxmLoginRequest(settings.tokenUrl, settings);
  }
}

/** Obtains a new token for token-based settings; `owner` names the connector in messages. */
export async function obtainToken(
  settings: TokenAuthSettings,
  call: TokenEndpointCall,
  owner: string,
): Promise<TokenSet> {
  const tokenRequest = await buildTokenRequest(settings, owner);
  // LoginToken never sends a token_type: its absence is that endpoint's normal answer, not worth a note.
  if (settings.kind === "wxm-login") {
    const token = await requestToken(tokenRequest, { ...call, requireTokenType: false });
    return { ...token, tokenTypeAssumed: undefined };
  }
  return requestToken(tokenRequest, call);
}
