import type { Dispatcher } from "undici";
import { isAbortError } from "../core/budget.js";
import { DEFAULT_LIMITS, depthExceeds } from "../core/limits.js";
import {
  credentialSecrets,
  isSecretName,
  REDACTED,
  redactUrl as redactShownUrl,
  scrubSecrets,
} from "../core/redact.js";
import { TIMEOUT_CODES } from "../http/sender.js";
import { bodyAsRecorded, observeRequest } from "./exchange-matcher.js";
import type { Exchange, Fault, RecordedResponse } from "./test-file.js";

/** Names that look secret but are not, and that replay needs intact (a token answer's `token_type`). */
const NOT_SECRET = new Set(["token_type", "token_uri", "expires_in"]);

const isSecretField = (name: string) => isSecretName(name) && !NOT_SECRET.has(name.toLowerCase());

/** Response headers worth keeping; everything else (cookies, server banners, tokens) is dropped. */
const KEPT_RESPONSE_HEADERS = new Set(["content-type", "retry-after", "location", "www-authenticate"]);

/**
 * Replaces secrets by `[REDACTED]`: values under secret-looking names, and any occurrence of a known secret value
 * (the connectors' resolved secrets), so that nothing secret can reach a recorded file.
 */
export function redactValue(value: unknown, knownSecrets: readonly string[], name?: string): unknown {
  if (name !== undefined && isSecretField(name) && value !== null && value !== undefined) return REDACTED;
  if (typeof value === "string") return scrubSecrets(value, knownSecrets);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, knownSecrets));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redactValue(item, knownSecrets, key)]),
    );
  }
  return value;
}

function redactUrl(url: string, knownSecrets: readonly string[]): string {
  return scrubSecrets(redactShownUrl(new URL(url)), knownSecrets);
}

/**
 * The body as recorded: parsed JSON, or the text when it is not JSON or nests deeper than the engine would accept
 * (the recorder walks parsed bodies recursively; as text it is scrubbed and replayed alike).
 */
function responseBody(text: string, contentType: string): unknown {
  if (text === "") return undefined;
  if (/json/i.test(contentType)) {
    try {
      const parsed: unknown = JSON.parse(text);
      return depthExceeds(parsed, DEFAULT_LIMITS.valueDepth) ? text : parsed;
    } catch {
      return text;
    }
  }
  return text;
}

/** String values under secret-looking names anywhere in a JSON value (a token answer's access_token). */
function secretFieldValues(value: unknown, into: string[], name?: string): string[] {
  if (typeof value === "string") {
    if (name !== undefined && isSecretField(name)) into.push(value);
  } else if (Array.isArray(value)) {
    for (const item of value) secretFieldValues(item, into);
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) secretFieldValues(item, into, key);
  }
  return into;
}

/** Adds secrets to `knownSecrets` (kept longest first); values under 4 characters are not scrubbed, see scrubSecrets. */
function learnSecrets(knownSecrets: string[], secrets: readonly string[]): void {
  for (const secret of secrets)
    if (secret.length >= 4 && !knownSecrets.includes(secret)) knownSecrets.push(secret);
  knownSecrets.sort((a, b) => b.length - a.length);
}

/**
 * The values of a run's secret-named inputs (`--contact apiKey=...`, `--var password=...`) become known secrets
 * before the run: scrubbed by value wherever they go (a query, a body, a copy in another variable), the recorded
 * inputs and the requests they rendered both hold `[REDACTED]`, so that the case replays.
 */
export function learnInputSecrets(knownSecrets: string[], inputs: Record<string, unknown>): void {
  learnSecrets(knownSecrets, secretFieldValues(inputs, []));
}

/**
 * A recorded case as it may be written: the whole of it, inputs (contact, variables, menu inputs) and `expect`
 * included, redacted by name and by known secret value with the rules of the exchanges. Run once more over the
 * exchanges, it also catches a secret learnt only after an earlier exchange was recorded.
 */
export function redactCase<T extends object>(recordedCase: T, knownSecrets: readonly string[]): T {
  return redactValue(recordedCase, knownSecrets) as T;
}

/** `timeout` when the request was given up for lack of an answer (a deadline, undici's timeouts), else `network`. */
function faultOf(error: Error): Fault {
  const code = (error as { code?: unknown }).code;
  if (isAbortError(error)) return "timeout";
  return typeof code === "string" && TIMEOUT_CODES.has(code) ? "timeout" : "network";
}

/**
 * A dispatcher interceptor that records each exchange (request and response) as it passes, redacted: request
 * headers are not recorded at all (they carry credentials), bodies and queries are redacted by name and by value.
 * Credentials seen on the way (the values of secret-named request headers such as Authorization, and of
 * secret-named fields of JSON answers such as access_token) are appended to `knownSecrets`, so that an API
 * echoing its bearer token in a body is redacted too (found by the secret-leak audit), in later exchanges and in
 * whatever the caller redacts with the same list afterwards.
 */
export function recordingInterceptor(
  knownSecrets: string[],
  onExchange: (exchange: Exchange) => void,
): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const observed = observeRequest(options);
    const recordedRequest = (): Exchange["request"] => {
      const request: Exchange["request"] = {
        method: observed.method as Exchange["request"]["method"],
        url: redactUrl(observed.url, knownSecrets),
      };
      const recordedBody = bodyAsRecorded(observed);
      if (recordedBody !== undefined) request.body = redactValue(recordedBody, knownSecrets);
      return request;
    };
    let ended = false;
    let status = 0;
    let headers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    return dispatch(options, {
      onRequestStart: (controller, context) => handler.onRequestStart?.(controller, context),
      onRequestUpgrade: (controller, statusCode, upgradeHeaders, socket) =>
        handler.onRequestUpgrade?.(controller, statusCode, upgradeHeaders, socket),
      onResponseStart: (controller, statusCode, responseHeaders, statusMessage) => {
        status = statusCode;
        headers = {};
        for (const [name, value] of Object.entries(responseHeaders)) {
          if (KEPT_RESPONSE_HEADERS.has(name.toLowerCase()) && value !== undefined)
            headers[name.toLowerCase()] = String(value);
        }
        return handler.onResponseStart?.(controller, statusCode, responseHeaders, statusMessage);
      },
      onResponseData: (controller, chunk) => {
        chunks.push(chunk);
        return handler.onResponseData?.(controller, chunk);
      },
      onResponseEnd: (controller, trailers) => {
        const body = Buffer.concat(chunks).toString("utf8");
        const learnt: string[] = [];
        for (const [name, value] of Object.entries(observed.headers)) {
          if (!isSecretName(name)) continue;
          learnt.push(...credentialSecrets(value));
        }
        const parsedBody = responseBody(body, headers["content-type"] ?? "");
        secretFieldValues(parsedBody, learnt);
        learnSecrets(knownSecrets, learnt);
        const request = recordedRequest();
        const response: RecordedResponse = { status };
        if (Object.keys(headers).length > 0) response.headers = headers;
        if (parsedBody !== undefined) response.body = redactValue(parsedBody, knownSecrets);
        ended = true;
        onExchange({ request, response });
        return handler.onResponseEnd?.(controller, trailers);
      },
      onResponseError: (controller, error) => {
        // The request failed at the network level (refused, reset, no answer in time): the case records that, so
        // replaying it takes the same path instead of missing an exchange.
        if (!ended) onExchange({ request: recordedRequest(), fault: faultOf(error) });
        return handler.onResponseError?.(controller, error);
      },
    });
  };
}
