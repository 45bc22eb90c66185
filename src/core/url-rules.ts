import { isIPv4 } from "node:net";
import { type FixableCause, FlowrunError } from "./errors.js";

/**
 * The request a template produced cannot be sent: a URL that would leave the connector's origin, a header value
 * with CR/LF, a scheme that is not allowed. Nothing is sent; the activity reports error kind `invalid-request`.
 */
export class InvalidRequestError extends FlowrunError {
  constructor(message: string, fixable?: FixableCause) {
    super("invalid-request", message, { fixable });
    this.name = "InvalidRequestError";
  }
}

// C0 controls (CR, LF, TAB, NUL, ...) and DEL: never part of a path, and CR/LF split requests.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
/** How many rounds of percent-decoding are inspected (`%252F` is `%2F` is `/`). */
const DECODE_ROUNDS = 3;

/** Whether a host name is a loopback host: 127.0.0.0/8, ::1 (with or without brackets) or localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host === "::1") return true;
  // WHATWG URL normalises IPv4 forms (`127.1`, `0x7f.1`) to dotted decimal, so a prefix test suffices.
  return isIPv4(host) && host.startsWith("127.");
}

/** Which part of the https rule a URL breaks. */
export type UrlRuleBreach =
  /** `user:password@` in the URL: credentials belong in connectors. */
  | "credentials"
  /** Neither `https:` nor `http:`. */
  | "not-http"
  /** Plain `http:` to a host that is not loopback. */
  | "http-not-loopback"
  /** Plain `http:` to a loopback host without `allowLoopbackHttp`. */
  | "loopback-http-not-allowed";

/**
 * THE rule for every URL that carries requests or credentials (base URLs, token URLs, validation URLs, a
 * `requestUrl`): `https:`, or `http:` to a loopback host when the engine allows it, and no user info.
 */
export function urlRuleBreach(url: URL, allowLoopbackHttp: boolean): UrlRuleBreach | undefined {
  if (url.username || url.password) return "credentials";
  if (url.protocol === "https:") return undefined;
  if (url.protocol !== "http:") return "not-http";
  if (!isLoopbackHost(url.hostname)) return "http-not-loopback";
  return allowLoopbackHttp ? undefined : "loopback-http-not-allowed";
}

/**
 * Checks that a base or absolute URL may carry requests (`urlRuleBreach`); a fragment is checked by the callers
 * that parse rendered text.
 */
export function checkSendableUrl(url: URL, allowLoopbackHttp: boolean, what: string): void {
  switch (urlRuleBreach(url, allowLoopbackHttp)) {
    case undefined:
      return;
    case "credentials":
      throw new InvalidRequestError(`${what} must not contain credentials; use a connector`);
    case "not-http":
      throw new InvalidRequestError(`${what} must use https://, not ${url.protocol}`);
    case "http-not-loopback":
      throw new InvalidRequestError(`${what} must use https:// (plain http:// only for loopback hosts)`);
    case "loopback-http-not-allowed":
      throw new InvalidRequestError(
        `${what} uses plain http:// to a loopback host; allow it with the engine option allowLoopbackHttp (--allow-loopback-http)`,
        { code: "loopback-http-not-allowed", subject: what },
      );
  }
}

/**
 * Checks a rendered `requestUrl` (unauthenticated mode) and returns it parsed.
 */
export function parseAbsoluteUrl(text: string, allowLoopbackHttp: boolean): URL {
  if (CONTROL_CHARACTER.test(text))
    throw new InvalidRequestError("requestUrl contains a control character (CR, LF, ...)");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidRequestError("requestUrl is not an absolute URL");
  }
  if (url.hash) throw new InvalidRequestError("requestUrl must not contain a fragment (#)");
  checkSendableUrl(url, allowLoopbackHttp, "requestUrl");
  return url;
}

/** Every percent-decoding of `text` up to DECODE_ROUNDS, the text itself first. Malformed encoding is refused. */
function decodings(text: string): string[] {
  const forms = [text];
  let current = text;
  for (let round = 0; round < DECODE_ROUNDS && current.includes("%"); round++) {
    try {
      current = decodeURIComponent(current);
    } catch {
      throw new InvalidRequestError("requestPath has malformed percent-encoding");
    }
    forms.push(current);
  }
  return forms;
}

/**
 * Checks a rendered `requestPath` on its own, before any base URL is known: it must be a path (optionally with a
 * query), never something a URL parser could read as another origin. Refuses, in the text and in every
 * percent-decoded form of it: control characters, `\`, `@`, `//`, a scheme, `#`, and encoded dot segments.
 */
export function checkRequestPath(path: string): void {
  const [pathPart = ""] = path.split("?", 1);
  for (const form of decodings(path)) {
    if (CONTROL_CHARACTER.test(form))
      throw new InvalidRequestError("requestPath contains a control character (CR, LF, ...)");
    if (form.includes("\\")) throw new InvalidRequestError("requestPath must not contain a backslash");
    if (form.includes("@")) throw new InvalidRequestError("requestPath must not contain @");
    if (form.includes("#")) throw new InvalidRequestError("requestPath must not contain a fragment (#)");
    if (SCHEME.test(form.trimStart()))
      throw new InvalidRequestError("requestPath must be a path, not an absolute URL");
  }
  for (const form of decodings(pathPart)) {
    if (form.includes("//")) throw new InvalidRequestError("requestPath must not contain //");
  }
  let depth = 0;
  for (const segment of pathPart.split("/")) {
    if (!DOT_SEGMENT.test(segment)) {
      if (segment !== "") depth++;
      continue;
    }
    if (segment !== "." && segment !== "..")
      throw new InvalidRequestError("requestPath must not contain encoded dot segments (%2e)");
    if (segment === "..") depth--;
    if (depth < 0) throw new InvalidRequestError("requestPath climbs above the connector's base path (..)");
  }
}

/**
 * Joins a checked `requestPath` to a base URL and verifies the result: exactly the base's scheme, host and port,
 * and a path at or below the base path. The base's own query and fragment are dropped.
 */
export function joinToBase(base: URL, path: string): URL {
  checkRequestPath(path);
  const basePath = base.pathname.replace(/\/+$/, "");
  const [pathPart = "", ...queryParts] = path.split("?");
  const joined = new URL(`${base.origin}${basePath}/${pathPart.replace(/^\/+/, "")}`);
  if (queryParts.length > 0) joined.search = queryParts.join("?");
  if (
    joined.protocol !== base.protocol ||
    joined.host !== base.host ||
    joined.origin !== base.origin ||
    joined.username !== "" ||
    joined.password !== ""
  ) {
    throw new InvalidRequestError("requestPath would leave the connector's origin");
  }
  if (joined.pathname !== basePath && !joined.pathname.startsWith(`${basePath}/`))
    throw new InvalidRequestError("requestPath climbs above the connector's base path (..)");
  return joined;
}

/** Whether a rendered header value may be sent: CR, LF and NUL would split or corrupt the request. */
export function checkHeaderValue(name: string, value: string): void {
  if (/[\r\n\0]/.test(value))
    throw new InvalidRequestError(`header ${name} contains CR, LF or NUL after rendering`);
  // undici refuses other control characters and anything above U+00FF with a thrown error that surfaced as kind
  // `network` (found by the hardening property tests); it is the rendered value that is invalid, and nothing is
  // sent, so it is `invalid-request` like CR/LF.
  if (/[^\t\x20-\x7e\x80-\xff]/.test(value))
    throw new InvalidRequestError(
      `header ${name} contains a control character or a character outside ISO-8859-1 after rendering`,
    );
}
