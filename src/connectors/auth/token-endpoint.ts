import pRetry, { AbortError } from "p-retry";
import type { Dispatcher } from "undici";
import { isSecretName, scrubSecrets } from "../../core/redact.js";
import { AttemptError, type HttpResponse, sendAttempt } from "../../http/sender.js";
import { AuthError } from "../errors.js";
import type { TokenRequest } from "./token-request.js";
import { processTokenResponse, type TokenEndpointAnswer } from "./token-response.js";
import type { TokenSet } from "./token-set.js";

/** A token answer larger than this is not a token. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

export interface TokenEndpointCall {
  readonly dispatcher: Dispatcher;
  readonly signal: AbortSignal;
  /** `performance.now()` milliseconds by which the token must be there. */
  readonly deadline: number;
  /** Only Bearer tokens are used; LoginToken answers may omit token_type. */
  readonly requireTokenType?: boolean;
}

function endpointName(url: string): string {
  const parsed = new URL(url);
  return `token endpoint ${parsed.origin}${parsed.pathname}`;
}

/**
 * The credentials a token request carries: its Authorization header (whole, the base64 credential, and the client
 * id/secret pair inside a Basic one) and the values of secret-named form fields (client_secret, password,
 * refresh_token, assertion). An endpoint that refuses a client may echo them in `error_description` or an HTML
 * page; the secret-leak audit (test/hardening/secret-leaks.test.ts) found exactly that reaching error messages.
 */
export function tokenRequestSecrets(tokenRequest: TokenRequest): string[] {
  const secrets: string[] = [];
  const formDecode = (text: string) => {
    try {
      return decodeURIComponent(text.replace(/\+/g, " "));
    } catch {
      return text;
    }
  };
  for (const [name, value] of Object.entries(tokenRequest.headers)) {
    if (!isSecretName(name)) continue;
    secrets.push(value);
    const credential = value.split(" ").slice(1).join(" ");
    if (credential) secrets.push(credential);
    if (/^basic /i.test(value)) {
      const pair = Buffer.from(credential, "base64").toString("utf8");
      const colon = pair.indexOf(":");
      if (colon >= 0) secrets.push(pair.slice(colon + 1), formDecode(pair.slice(colon + 1)));
    }
  }
  for (const [name, value] of new URLSearchParams(tokenRequest.body))
    if (isSecretName(name) && name !== "grant_type") secrets.push(value);
  return secrets;
}

/**
 * The error a refused answer produced, with the request's credentials removed from its message. The answer is
 * checked again with its body scrubbed first, because the message quotes a shortened body and a secret cut in half
 * by the shortening would escape a scrub of the message alone. (The successful path keeps the body as sent: a
 * token answer may legitimately repeat the refresh token.)
 */
function refusalWithoutSecrets(
  error: unknown,
  answer: TokenEndpointAnswer,
  rules: Parameters<typeof processTokenResponse>[1],
  secrets: readonly string[],
): unknown {
  if (!(error instanceof AuthError)) return error;
  let message = error.message;
  try {
    processTokenResponse({ ...answer, body: scrubSecrets(answer.body, secrets) }, rules);
  } catch (scrubbed) {
    if (scrubbed instanceof AuthError) message = scrubbed.message;
  }
  return new AuthError(scrubSecrets(message, secrets), {
    oauthError: error.oauthError,
    retryable: error.retryable,
  });
}

/**
 * One POST to the token endpoint through the engine's one sender (same dispatcher and admission as API calls),
 * redirects not followed.
 */
async function postOnce(
  tokenRequest: TokenRequest,
  call: TokenEndpointCall,
  endpoint: string,
): Promise<TokenEndpointAnswer> {
  let response: HttpResponse;
  try {
    response = await sendAttempt({
      url: new URL(tokenRequest.url),
      method: "POST",
      headers: tokenRequest.headers,
      body: tokenRequest.body,
      dispatcher: call.dispatcher,
      maxResponseBytes: MAX_TOKEN_RESPONSE_BYTES,
      signal: call.signal,
    });
  } catch (error) {
    if (call.signal.aborted) throw call.signal.reason;
    // The egress policy's refusal is final and keeps its own kind (SPEC 12): not retried, not `auth`.
    if (error instanceof AttemptError && error.code === "egress-denied") throw error.cause;
    if (error instanceof AttemptError && error.code === "response-too-large")
      throw new AuthError(
        `${endpoint} answered more than ${MAX_TOKEN_RESPONSE_BYTES} bytes; that is not a token`,
      );
    // A connection lost before or while the answer is read is retryable and reported as kind `auth`.
    const cause = error instanceof AttemptError ? error.cause : error;
    const code = (cause as { code?: string } | undefined)?.code ?? (error as Error).name;
    const what =
      error instanceof AttemptError && error.duringResponse
        ? `lost the connection to ${endpoint} while reading its answer`
        : `could not reach ${endpoint}`;
    throw new AuthError(`${what} (${code})`, { retryable: true, cause: error });
  }
  return {
    status: response.status,
    contentType: response.headers["content-type"] ?? "",
    body: response.body,
  };
}

/**
 * Sends a token request and checks the answer. Network errors, 5xx and 429 are retried with exponential backoff
 * (p-retry) as long as the deadline allows; OAuth errors such as `invalid_client` or `invalid_grant` are final.
 */
export async function requestToken(tokenRequest: TokenRequest, call: TokenEndpointCall): Promise<TokenSet> {
  const endpoint = endpointName(tokenRequest.url);
  const remaining = () => call.deadline - performance.now();
  const backoff = { minTimeout: 100, factor: 2, maxTimeout: 2000 };
  // p-retry's delay before the next attempt (randomize is off): minTimeout * factor^retriesConsumed, capped.
  const nextDelay = (retriesConsumed: number) =>
    Math.min(backoff.maxTimeout, backoff.minTimeout * backoff.factor ** retriesConsumed);
  return pRetry(
    async () => {
      try {
        const answer = await postOnce(tokenRequest, call, endpoint);
        const rules = { endpoint, requireTokenType: call.requireTokenType ?? true };
        try {
          return processTokenResponse(answer, rules);
        } catch (error) {
          throw refusalWithoutSecrets(error, answer, rules, tokenRequestSecrets(tokenRequest));
        }
      } catch (error) {
        // p-retry rethrows an AbortError's original error without retrying.
        if (error instanceof AuthError && !error.retryable) throw new AbortError(error);
        throw error;
      }
    },
    {
      retries: 4,
      ...backoff,
      signal: call.signal,
      unref: true,
      // Waiting for a retry that cannot finish before the deadline only delays the failure. The backoff delay
      // counts too: otherwise the deadline's signal fires during the wait and the caller gets a bare
      // TimeoutError instead of what the server answered.
      shouldRetry: ({ error, retriesConsumed }) =>
        error instanceof AuthError && error.retryable && remaining() > nextDelay(retriesConsumed) + 100,
    },
  );
}
