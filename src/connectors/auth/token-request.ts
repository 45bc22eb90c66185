/**
 * Token request building: pure functions from settings to the HTTP request a token endpoint expects. Sending
 * and answer checking live in token-endpoint.ts and token-response.ts.
 */
export interface TokenRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** application/x-www-form-urlencoded */
  readonly body: string;
}

export type ClientAuthMethod = "basic" | "body";

export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly clientAuth: ClientAuthMethod;
}

const FORM = "application/x-www-form-urlencoded";

/**
 * RFC 6749 section 2.3.1: with HTTP Basic the client id and secret are each form-urlencoded (Appendix B) before
 * they are joined by ":" and base64-encoded; in the body they are sent as `client_id` and `client_secret`.
 */
function withClientAuthentication(
  url: string,
  params: URLSearchParams,
  client: ClientCredentials,
): TokenRequest {
  const headers: Record<string, string> = { "content-type": FORM, accept: "application/json" };
  if (client.clientAuth === "basic") {
    const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
    const pair = `${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(pair, "utf8").toString("base64")}`;
  } else {
    params.set("client_id", client.clientId);
    params.set("client_secret", client.clientSecret);
  }
  return { url, headers, body: params.toString() };
}

/** RFC 6749 section 4.4.2: client credentials grant. */
export function clientCredentialsRequest(
  tokenUrl: string,
  client: ClientCredentials,
  scope?: string,
): TokenRequest {
  const params = new URLSearchParams({ grant_type: "client_credentials" });
  if (scope) params.set("scope", scope);
  return withClientAuthentication(tokenUrl, params, client);
}

/** RFC 6749 section 4.3.2: resource owner password credentials grant. */
export function passwordRequest(
  tokenUrl: string,
  client: ClientCredentials,
  owner: { username: string; password: string },
  scope?: string,
): TokenRequest {
  const params = new URLSearchParams({
    grant_type: "password",
    username: owner.username,
    password: owner.password,
  });
  if (scope) params.set("scope", scope);
  return withClientAuthentication(tokenUrl, params, client);
}

/** RFC 6749 section 6: refreshing an access token with a refresh token. */
export function refreshTokenRequest(
  tokenUrl: string,
  client: ClientCredentials,
  refreshToken: string,
): TokenRequest {
  const params = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken });
  return withClientAuthentication(tokenUrl, params, client);
}

/** RFC 7523 section 2.1: a JWT used as an authorization grant; the assertion authenticates the client itself. */
export function jwtBearerRequest(tokenUrl: string, assertion: string): TokenRequest {
  const params = new URLSearchParams({
    grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
    assertion,
  });
  return {
    url: tokenUrl,
    headers: { "content-type": FORM, accept: "application/json" },
    body: params.toString(),
  };
}

/**
 * Webex Experience Management (Cloud Cherry) `POST {base}/api/LoginToken`: a password-style form whose password
 * is the account's API key, as the admin guide (seed 003) describes the connector.
 */
export function wxmLoginRequest(
  url: string,
  credentials: { username: string; apiKey: string },
): TokenRequest {
  const params = new URLSearchParams({
    grant_type: "password",
    username: credentials.username,
    password: credentials.apiKey,
  });
  return { url, headers: { "content-type": FORM, accept: "application/json" }, body: params.toString() };
}
