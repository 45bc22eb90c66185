import type { HttpServices } from "../../core/http-types.js";
import { encodeQuery, isSecretName, redactUrl } from "../../core/redact.js";
import { checkSendableUrl, InvalidRequestError, joinToBase, parseAbsoluteUrl } from "../../core/url-rules.js";
import { appendQuery } from "./request-building.js";

/** A checked URL taken apart once: what undici needs (origin, path) and what the trace may show. */
interface UrlParts {
  readonly href: string;
  readonly origin: string;
  readonly pathname: string;
  readonly search: string;
  /** The URL as shown is not simply origin + path: a fragment, or a query parameter with a secret name. */
  readonly needsRedaction: boolean;
}

/** The request's destination: origin and path for undici, and the URL for the trace, secrets redacted. */
export interface RequestUrl {
  readonly origin: string;
  readonly path: string;
  readonly shown: string;
}

function urlParts(url: URL): UrlParts {
  let secretInSearch = false;
  if (url.search) for (const name of url.searchParams.keys()) if (isSecretName(name)) secretInSearch = true;
  return {
    href: url.href,
    origin: url.origin,
    pathname: url.pathname,
    search: url.search,
    needsRedaction: secretInSearch || url.hash !== "" || url.href.includes("%5BREDACTED%5D"),
  };
}

/**
 * Checked URLs by base and path (connectors) or by the whole URL (flow-authored), one cache per engine (its `http`
 * services): the checks are pure and most paths are constant, and no engine's rules or evictions reach another
 * engine embedded in the same process.
 */
const checkedUrlsByEngine = new WeakMap<HttpServices, Map<string, UrlParts>>();
const CHECKED_URLS_KEPT = 1024;

/** The cached URL for `key`, else `check()`'s (a check that throws caches nothing). */
function checkedOnce(http: HttpServices, key: string, check: () => UrlParts): UrlParts {
  let checked = checkedUrlsByEngine.get(http);
  if (checked === undefined) {
    checked = new Map();
    checkedUrlsByEngine.set(http, checked);
  }
  const known = checked.get(key);
  if (known !== undefined) return known;
  const parts = check();
  if (checked.size >= CHECKED_URLS_KEPT) checked.clear();
  checked.set(key, parts);
  return parts;
}

/** The connector's base URL joined with a rendered `requestPath`, every origin rule checked. */
function checkedJoin(connectorName: string, base: string, target: string, http: HttpServices): UrlParts {
  return checkedOnce(http, `${base}\u0000${target}`, () => {
    let baseUrl: URL;
    try {
      baseUrl = new URL(base);
    } catch {
      throw new InvalidRequestError(`connector "${connectorName}" has an invalid base URL`);
    }
    checkSendableUrl(baseUrl, http.allowLoopbackHttp, `the base URL of connector "${connectorName}"`);
    return urlParts(joinToBase(baseUrl, target));
  });
}

/** A flow-authored `requestUrl`, parsed and checked. */
function checkedFlowUrl(target: string, http: HttpServices): UrlParts {
  // Base URLs are absolute, so "\u0000target" never collides with a "base\u0000path" key.
  return checkedOnce(http, `\u0000${target}`, () =>
    urlParts(parseAbsoluteUrl(target, http.allowLoopbackHttp)),
  );
}

/**
 * The URL with the engine-encoded query appended to whatever query it has. Serialised once: the trace shows the
 * very string sent, unless something in it must be redacted.
 */
function withQuery(parts: UrlParts, query: URLSearchParams, secretQuery: boolean): RequestUrl {
  const encoded = query.size === 0 ? "" : encodeQuery(query);
  const search = encoded === "" ? parts.search : parts.search ? `${parts.search}&${encoded}` : `?${encoded}`;
  const path = `${parts.pathname}${search}`;
  if (!(parts.needsRedaction || secretQuery))
    return { origin: parts.origin, path, shown: `${parts.origin}${path}` };
  return { origin: parts.origin, path, shown: redactUrl(appendQuery(new URL(parts.href), query)) };
}

/** A flow-authored URL with its query, checked once per engine and URL (see checkedUrlsByEngine). */
export function flowRequestUrl(
  target: string,
  query: URLSearchParams,
  secretQuery: boolean,
  http: HttpServices,
): RequestUrl {
  return withQuery(checkedFlowUrl(target, http), query, secretQuery);
}

/** A connector's base URL (or the one its authorisation learnt) joined with a path, with its query. */
export function connectorRequestUrl(
  connectorName: string,
  base: string | undefined,
  target: string,
  query: URLSearchParams,
  secretQuery: boolean,
  http: HttpServices,
): RequestUrl {
  if (base === undefined) throw new InvalidRequestError(`connector "${connectorName}" has no base URL`);
  return withQuery(checkedJoin(connectorName, base, target, http), query, secretQuery);
}
