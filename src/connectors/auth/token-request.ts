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

/** The client as a request carries it; client-auth.ts turns each configured method into one of these. */
export type ClientCredentials =
  | { readonly clientAuth: "basic" | "body"; readonly clientId: string; readonly clientSecret: string }
  /** A signed JWT (private_key_jwt, client_secret_jwt). */
  | { readonly clientAuth: "assertion"; readonly clientId: string; readonly assertion: string }
  /** The TLS client certificate authenticates; the body names the client. */
  | { readonly clientAuth: "certificate"; readonly clientId: string };

const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

const FORM = "application/x-www-form-urlencoded";

/**
 * RFC 6749 section 2.3.1: with HTTP Basic the client id and secret are each form-urlencoded (Appendix B) before
 * they are joined by ":" and base64-encoded; in the body they are sent as `client_id` and `client_secret`.
 * An assertion goes as `client_assertion` with its type (RFC 7523 section 2.2); a certificate-authenticated client
 * sends only `client_id` (RFC 8705 section 2).
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
  } else if (client.clientAuth === "body") {
    params.set("client_id", client.clientId);
    params.set("client_secret", client.clientSecret);
  } else {
    params.set("client_id", client.clientId);
    if (client.clientAuth === "assertion") {
      params.set("client_assertion_type", CLIENT_ASSERTION_TYPE);
      params.set("client_assertion", client.assertion);
    }
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
