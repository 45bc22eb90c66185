import type { Dispatcher } from "undici";
import type { Budget } from "../../core/budget.js";
import { credentialSecrets, isSecretName, scrubSecrets } from "../../core/redact.js";
import type { Context } from "../../core/telemetry.js";
import { proxyRefusal } from "../../http/proxy.js";
import { retrying, TOKEN_RETRY_POLICY } from "../../http/retry.js";
import { AttemptError, type HttpResponse, sendAttempt } from "../../http/sender.js";
import { AuthError } from "../errors.js";
import type { TokenRequest } from "./token-request.js";
import { processTokenResponse, type TokenEndpointAnswer } from "./token-response.js";
import type { TokenSet } from "./token-set.js";

/** A token answer larger than this is not a token. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

export interface TokenEndpointCall {
  readonly dispatcher: Dispatcher;
  /** When the token must be there, the clock retries wait on, and the signal that ends the call. */
  readonly budget: Budget;
  /** Refuse an answer without token_type (default: take it as Bearer). Only Bearer tokens are ever used. */
  readonly requireTokenType?: boolean;
  /** The token request's OpenTelemetry context (its span's): the POST is dispatched under it. */
  readonly traceContext?: Context;
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
    const [, credential] = credentialSecrets(value);
    secrets.push(value);
    if (credential !== undefined) secrets.push(credential);
    if (credential !== undefined && /^basic /i.test(value)) {
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
    code: error.code,
    oauthError: error.oauthError,
    retryable: error.retryable,
  });
}

/**
 * A refresh-token grant is single use when the server rotates (https://www.rfc-editor.org/rfc/rfc6749#section-6,
 * https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2): once the request may have reached the server, the
 * server may have issued a new refresh token and retired this one, and sending it again would be refused as reuse
 * (some servers then revoke the whole token family). Such a request is retried only when nothing was sent.
 * An HTTP answer (5xx, 429) is still retried: the server said it issued nothing.
 */
function singleUseGrant(tokenRequest: TokenRequest): boolean {
  return new URLSearchParams(tokenRequest.body).get("grant_type") === "refresh_token";
}

/**
 * One POST to the token endpoint through the engine's one sender (same dispatcher and admission as API calls),
 * redirects not followed.
 */
async function postOnce(
  tokenRequest: TokenRequest,
  call: TokenEndpointCall,
  endpoint: string,
): Promise<TokenEndpointAnswer & { readonly retryAfter: string | undefined }> {
  let response: HttpResponse;
  try {
    response = await sendAttempt({
      url: new URL(tokenRequest.url),
      method: "POST",
      headers: tokenRequest.headers,
      body: tokenRequest.body,
      dispatcher: call.dispatcher,
      maxResponseBytes: MAX_TOKEN_RESPONSE_BYTES,
      signal: call.budget.signal,
      traceContext: call.traceContext,
    });
  } catch (error) {
    if (call.budget.signal.aborted) throw call.budget.signal.reason;
    // The egress policy's refusal is final and keeps its own kind: not retried, not `auth`.
    if (error instanceof AttemptError && error.code === "egress-denied") throw error.cause;
    if (error instanceof AttemptError && error.code === "response-too-large")
      throw new AuthError(
        `${endpoint} answered more than ${MAX_TOKEN_RESPONSE_BYTES} bytes; that is not a token`,
        { code: "token-endpoint-unreachable" },
      );
    // A connection lost before or while the answer is read is retryable (kind `auth` in the activity), except for
    // a single-use grant the server may already have acted on (see singleUseGrant).
    const cause = error instanceof AttemptError ? error.cause : error;
    const code = (cause as { code?: string } | undefined)?.code ?? (error as Error).name;
    const maybeSent = !(error instanceof AttemptError) || error.maybeSent;
    const what =
      error instanceof AttemptError && error.duringResponse
        ? `lost the connection to ${endpoint} while reading its answer`
        : maybeSent
          ? `lost the connection to ${endpoint} after sending the request`
          : `could not reach ${endpoint}`;
    const spent = singleUseGrant(tokenRequest) && maybeSent;
    const reason = proxyRefusal(cause) ?? code;
    throw new AuthError(
      spent
        ? `${what} (${reason}); the refresh token may have been spent, so it is not sent again`
        : `${what} (${reason})`,
      { code: "token-endpoint-unreachable", retryable: !spent, cause: error },
    );
  }
  return {
    status: response.status,
    contentType: response.headers["content-type"] ?? "",
    body: response.body,
    retryAfter: response.headers["retry-after"],
  };
}

/**
 * Sends a token request and checks the answer. The one retry loop (src/http/retry.ts) repeats network errors, 5xx
 * and 429 (Retry-After, else backoff with jitter) while a wait and an attempt still fit before the deadline; OAuth
 * errors such as `invalid_client` or `invalid_grant` are final, and so is an egress refusal (not an AuthError).
 * A retry the deadline leaves no room for is not started: the server's answer is reported at once, not a bare
 * TimeoutError from the deadline firing during the wait.
 */
export async function requestToken(tokenRequest: TokenRequest, call: TokenEndpointCall): Promise<TokenSet> {
  const endpoint = endpointName(tokenRequest.url);
  const rules = { endpoint, requireTokenType: call.requireTokenType ?? false };
  let retryAfter: string | undefined;
  const outcome = await retrying<TokenSet>({
    policy: TOKEN_RETRY_POLICY,
    budget: call.budget,
    async attempt() {
      retryAfter = undefined;
      const answer = await postOnce(tokenRequest, call, endpoint);
      retryAfter = answer.retryAfter;
      try {
        return processTokenResponse(answer, rules);
      } catch (error) {
        throw refusalWithoutSecrets(error, answer, rules, tokenRequestSecrets(tokenRequest));
      }
    },
    classify: (outcome) =>
      !outcome.ok && outcome.error instanceof AuthError && outcome.error.retryable
        ? { verdict: "retry", retryAfter }
        : { verdict: "final" },
  });
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}
