import type { Dispatcher } from "undici";
import { bodyAsRecorded, type ObservedRequest } from "./exchange-matcher.js";
import { type Exchange, REDACTED } from "./test-file.js";

/** Field and parameter names whose values are secrets wherever they appear (bodies, queries, token answers). */
const SECRET_NAME =
  /^(client_secret|password|passwd|assertion|client_assertion|refresh_token|access_token|id_token|token|api[-_]?key|apikey|secret|authorization|private_key|privatekey)$/i;

/** Response headers worth keeping; everything else (cookies, server banners, tokens) is dropped. */
const KEPT_RESPONSE_HEADERS = new Set(["content-type", "retry-after", "location", "www-authenticate"]);

/**
 * Replaces secrets by `[REDACTED]`: values under secret-looking names, and any occurrence of a known secret value
 * (the connectors' resolved secrets), so that nothing secret can reach a recorded file.
 */
export function redactValue(value: unknown, knownSecrets: readonly string[], name?: string): unknown {
  if (name !== undefined && SECRET_NAME.test(name) && value !== null && value !== undefined) return REDACTED;
  if (typeof value === "string") {
    let text = value;
    for (const secret of knownSecrets) {
      if (secret.length >= 4 && text.includes(secret)) text = text.split(secret).join(REDACTED);
    }
    return text;
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, knownSecrets));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redactValue(item, knownSecrets, key)]),
    );
  }
  return value;
}

function redactUrl(url: string, knownSecrets: readonly string[]): string {
  const parsed = new URL(url);
  for (const [name, value] of [...parsed.searchParams.entries()]) {
    const redacted = redactValue(value, knownSecrets, name) as string;
    if (redacted !== value) parsed.searchParams.set(name, redacted);
  }
  return redactValue(parsed.toString().replaceAll("%5BREDACTED%5D", REDACTED), knownSecrets) as string;
}

function responseBody(text: string, contentType: string): unknown {
  if (text === "") return undefined;
  if (/json/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function requestBodyText(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body).toString("utf8");
  return undefined;
}

function requestHeaders(headers: Dispatcher.DispatchOptions["headers"]): Record<string, string> {
  const flat: Record<string, string> = {};
  if (!headers) return flat;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2)
      flat[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === "function") {
    for (const [name, value] of headers as Iterable<[string, string]>)
      flat[name.toLowerCase()] = String(value);
  } else {
    for (const [name, value] of Object.entries(headers))
      if (value !== undefined) flat[name.toLowerCase()] = String(value);
  }
  return flat;
}

/**
 * A dispatcher interceptor that records each exchange (request and response) as it passes, redacted: request
 * headers are not recorded at all (they carry credentials), bodies and queries are redacted by name and by value.
 */
export function recordingInterceptor(
  knownSecrets: readonly string[],
  onExchange: (exchange: Exchange) => void,
): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const observed: ObservedRequest = {
      method: String(options.method).toUpperCase(),
      url: new URL(options.path, options.origin).toString(),
      headers: requestHeaders(options.headers),
      body: requestBodyText(options.body),
    };
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
        const request: Exchange["request"] = {
          method: observed.method as Exchange["request"]["method"],
          url: redactUrl(observed.url, knownSecrets),
        };
        const recordedBody = bodyAsRecorded(observed);
        if (recordedBody !== undefined) request.body = redactValue(recordedBody, knownSecrets);
        const response: Exchange["response"] = { status };
        if (Object.keys(headers).length > 0) response.headers = headers;
        const parsedBody = responseBody(body, headers["content-type"] ?? "");
        if (parsedBody !== undefined) response.body = redactValue(parsedBody, knownSecrets);
        onExchange({ request, response });
        return handler.onResponseEnd?.(controller, trailers);
      },
      onResponseError: (controller, error) => handler.onResponseError?.(controller, error),
    });
  };
}
