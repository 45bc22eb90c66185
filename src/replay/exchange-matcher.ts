import { isDeepStrictEqual } from "node:util";
import { REDACTED, type RecordedRequest } from "./test-file.js";

/** A request as the engine sent it, seen by the replay dispatcher. */
export interface ObservedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | undefined;
}

/** A request as undici hands it to an interceptor (the recorder) or to a MockAgent reply (replay). */
export interface DispatchedRequest {
  readonly method: string;
  readonly origin?: string | URL;
  readonly path: string;
  readonly headers?: unknown;
  readonly body?: unknown;
}

/**
 * Request headers in any form undici uses (a Headers instance or another iterable of pairs, a flat name/value
 * array, a plain object whose values may be arrays) as one lower-cased name -> value record.
 */
function flatHeaders(headers: unknown): Record<string, string> {
  const flat: Record<string, string> = {};
  if (!headers || typeof headers !== "object") return flat;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2)
      flat[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === "function") {
    for (const [name, value] of headers as Iterable<[string, string]>)
      flat[name.toLowerCase()] = String(value);
  } else {
    for (const [name, value] of Object.entries(headers))
      if (value !== undefined)
        flat[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return flat;
}

/** A text body as sent; a body that is not text (a stream) is undefined. */
function bodyText(body: unknown): string | undefined {
  if (typeof body === "string") return body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body).toString("utf8");
  return undefined;
}

/** The request the recorder records and replay matches, read the same way by both. */
export function observeRequest(request: DispatchedRequest): ObservedRequest {
  return {
    method: String(request.method).toUpperCase(),
    url: new URL(request.path, request.origin).toString(),
    headers: flatHeaders(request.headers),
    body: bodyText(request.body),
  };
}

/** A recorded value matches when equal; `[REDACTED]` matches any value, also inside a string (`Bearer [REDACTED]`). */
function valueMatches(recorded: unknown, observed: unknown): boolean {
  if (recorded === REDACTED) return observed !== undefined;
  if (typeof recorded === "string" && recorded.includes(REDACTED) && typeof observed === "string") {
    const pattern = recorded
      .split(REDACTED)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("[\\s\\S]*");
    return new RegExp(`^${pattern}$`).test(observed);
  }
  if (Array.isArray(recorded)) {
    return (
      Array.isArray(observed) &&
      observed.length === recorded.length &&
      recorded.every((item, i) => valueMatches(item, observed[i]))
    );
  }
  if (recorded !== null && typeof recorded === "object") {
    if (observed === null || typeof observed !== "object" || Array.isArray(observed)) return false;
    const recordedKeys = Object.keys(recorded);
    const observedKeys = Object.keys(observed);
    return (
      recordedKeys.length === observedKeys.length &&
      recordedKeys.every(
        (key) =>
          Object.hasOwn(observed, key) &&
          valueMatches(
            (recorded as Record<string, unknown>)[key],
            (observed as Record<string, unknown>)[key],
          ),
      )
    );
  }
  return isDeepStrictEqual(recorded, observed);
}

function queryPairs(url: URL): [string, string][] {
  return [...url.searchParams.entries()].sort(([a, x], [b, y]) =>
    a === b ? x.localeCompare(y) : a.localeCompare(b),
  );
}

function headerValue(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** The observed body in the shape it was recorded: JSON, a form object, or text. */
export function bodyAsRecorded(observed: ObservedRequest): unknown {
  if (observed.body === undefined || observed.body === "") return undefined;
  const contentType = headerValue(observed.headers, "content-type") ?? "";
  if (/json/i.test(contentType)) {
    try {
      return JSON.parse(observed.body);
    } catch {
      return observed.body;
    }
  }
  if (/x-www-form-urlencoded/i.test(contentType))
    return Object.fromEntries(new URLSearchParams(observed.body));
  return observed.body;
}

const show = (value: unknown) =>
  typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? "nothing");

/** Every way an observed request differs from a recorded one; empty when it matches. */
export function differences(observed: ObservedRequest, recorded: RecordedRequest): string[] {
  const found: string[] = [];
  if (observed.method !== recorded.method)
    found.push(`method ${observed.method} ≠ recorded ${recorded.method}`);
  const sent = new URL(observed.url);
  const expected = new URL(recorded.url);
  if (sent.origin !== expected.origin) found.push(`origin ${sent.origin} ≠ recorded ${expected.origin}`);
  if (sent.pathname !== expected.pathname)
    found.push(`path ${sent.pathname} ≠ recorded ${expected.pathname}`);
  const sentQuery = queryPairs(sent);
  const recordedQuery = queryPairs(expected);
  const names = new Set([...sentQuery, ...recordedQuery].map(([name]) => name));
  for (const name of names) {
    const sentValues = sentQuery.filter(([n]) => n === name).map(([, v]) => v);
    const recordedValues = recordedQuery.filter(([n]) => n === name).map(([, v]) => v);
    if (!valueMatches(recordedValues, sentValues)) {
      found.push(
        `query ${name}: ${show(sentValues.length === 1 ? sentValues[0] : sentValues)} ≠ recorded ${show(recordedValues.length === 1 ? recordedValues[0] : recordedValues)}`,
      );
    }
  }
  for (const [name, value] of Object.entries(recorded.headers ?? {})) {
    const sentValue = headerValue(observed.headers, name);
    if (!valueMatches(value, sentValue))
      found.push(`header ${name.toLowerCase()}: ${show(sentValue)} ≠ recorded ${show(value)}`);
  }
  if (recorded.body !== undefined) {
    const sentBody = bodyAsRecorded(observed);
    if (!valueMatches(recorded.body, sentBody))
      found.push(`body ${show(sentBody)} ≠ recorded ${show(recorded.body)}`);
  }
  return found;
}

export function matches(observed: ObservedRequest, recorded: RecordedRequest): boolean {
  return differences(observed, recorded).length === 0;
}

/** The recorded request with the fewest differences (method, origin and path weigh most). */
export function closestRecorded<T extends { request: RecordedRequest }>(
  observed: ObservedRequest,
  candidates: readonly T[],
): { candidate: T; differences: string[] } | undefined {
  let best: { candidate: T; differences: string[]; score: number } | undefined;
  for (const candidate of candidates) {
    const found = differences(observed, candidate.request);
    const score = found.reduce((sum, text) => sum + (/^(method|origin|path) /.test(text) ? 10 : 1), 0);
    if (!best || score < best.score) best = { candidate, differences: found, score };
  }
  return best && { candidate: best.candidate, differences: best.differences };
}

/** The readable diff printed for a request that matched no recorded exchange. */
export function describeUnmatched(
  observed: ObservedRequest,
  closest: { candidate: { request: RecordedRequest }; differences: string[] } | undefined,
  note = "",
): string {
  const lines = [`no recorded exchange matches ${observed.method} ${observed.url}${note}`];
  lines.push(`    request: ${observed.method} ${observed.url}`);
  const body = bodyAsRecorded(observed);
  if (body !== undefined) lines.push(`             body ${show(body)}`);
  if (!closest) {
    lines.push("    closest: (no exchanges recorded)");
    return lines.join("\n");
  }
  lines.push(`    closest: ${closest.candidate.request.method} ${closest.candidate.request.url}`);
  if (closest.candidate.request.body !== undefined)
    lines.push(`             body ${show(closest.candidate.request.body)}`);
  for (const difference of closest.differences) lines.push(`      - ${difference}`);
  return lines.join("\n");
}
