import { describeError } from "../../core/errors.js";
import type { PathSegment } from "../../core/json-path.js";
import { encodeQuery } from "../../core/redact.js";
import { checkHeaderValue, InvalidRequestError } from "../../core/url-rules.js";
import type { CompileContext } from "../../engine/activity.js";
import { type CompiledExpression, type CompiledTemplate, Scope } from "../../engine/expressions.js";

/**
 * Pure request building: templates are compiled once with the flow, then rendered per run into the pieces of a
 * request. Nothing here touches the network or a connector.
 */

export const CONTENT_TYPES = [
  "application/json",
  "application/x-www-form-urlencoded",
  "text/plain",
  "application/xml",
] as const;
export type ContentType = (typeof CONTENT_TYPES)[number];

/** A JSON body whose string leaves are value templates; the structure itself is fixed at compile time. */
type JsonBodyNode =
  | { kind: "template"; template: CompiledExpression }
  | { kind: "literal"; value: unknown }
  | { kind: "array"; items: JsonBodyNode[] }
  | { kind: "object"; entries: [string, JsonBodyNode][] };

export type CompiledBody =
  | { kind: "none" }
  /** `constant`: the serialised body when no leaf is a template (built once, at compile time). */
  | { kind: "json"; root: JsonBodyNode; constant: string | undefined }
  | { kind: "form"; fields: [string, CompiledTemplate][] }
  | { kind: "text"; template: CompiledTemplate };

/** Header names flowrun sets itself or that control message framing; a flow may not set them. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "content-type",
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function compileNamedTemplates(
  entries: Readonly<Record<string, string>> | undefined,
  at: readonly PathSegment[],
  ctx: CompileContext,
): [string, CompiledTemplate][] {
  return Object.entries(entries ?? {}).map(([name, source]) => [name, ctx.template([...at, name], source)]);
}

/** Compiles request headers, reporting names that are malformed, reserved, or (authenticated) `Authorization`. */
export function compileHeaders(
  headers: Readonly<Record<string, string>> | undefined,
  authenticated: boolean,
  ctx: CompileContext,
): [string, CompiledTemplate][] {
  for (const name of Object.keys(headers ?? {})) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) ctx.problem(["headers", name], `"${name}" is not a valid header name`);
    else if (RESERVED_HEADERS.has(lower))
      ctx.problem(
        ["headers", name],
        lower === "content-type"
          ? "set the content type with the contentType field"
          : `header ${name} is set by flowrun and cannot be set by a flow`,
      );
    else if (authenticated && (lower === "authorization" || lower === "proxy-authorization"))
      ctx.problem(
        ["headers", name],
        `${name} may not be set on an authenticated endpoint; the connector authorises the request`,
      );
  }
  return compileNamedTemplates(headers, ["headers"], ctx);
}

function compileJsonNode(value: unknown, at: PathSegment[], ctx: CompileContext): JsonBodyNode {
  if (typeof value === "string") {
    const template = ctx.valueTemplate(at, value);
    return template.isConstant
      ? { kind: "literal", value: template.evaluate(new Scope()) }
      : { kind: "template", template };
  }
  if (Array.isArray(value))
    return { kind: "array", items: value.map((item, index) => compileJsonNode(item, [...at, index], ctx)) };
  if (value !== null && typeof value === "object")
    return {
      kind: "object",
      entries: Object.entries(value).map(([key, item]) => [key, compileJsonNode(item, [...at, key], ctx)]),
    };
  return { kind: "literal", value };
}

export function compileBody(
  body: unknown,
  contentType: ContentType,
  method: string,
  ctx: CompileContext,
): CompiledBody {
  if (body === undefined) return { kind: "none" };
  if (method === "GET" || method === "HEAD") {
    ctx.problem(["body"], `a ${method} request has no body`);
    return { kind: "none" };
  }
  switch (contentType) {
    case "application/json": {
      const root = compileJsonNode(body, ["body"], ctx);
      return {
        kind: "json",
        root,
        constant: hasTemplate(root) ? undefined : serialiseJson(root, new Scope()),
      };
    }
    case "application/x-www-form-urlencoded": {
      const isStringRecord =
        body !== null &&
        typeof body === "object" &&
        !Array.isArray(body) &&
        Object.values(body).every((v) => typeof v === "string");
      if (!isStringRecord) {
        ctx.problem(["body"], "a form body is an object of name -> template (strings)");
        return { kind: "none" };
      }
      return {
        kind: "form",
        fields: compileNamedTemplates(body as Record<string, string>, ["body"], ctx),
      };
    }
    default:
      if (typeof body !== "string") {
        ctx.problem(["body"], `a ${contentType} body is a string template`);
        return { kind: "none" };
      }
      return { kind: "text", template: ctx.template(["body"], body) };
  }
}

function renderJsonNode(node: JsonBodyNode, scope: Scope): unknown {
  switch (node.kind) {
    case "template":
      return node.template.evaluate(scope) ?? null;
    case "literal":
      return node.value;
    case "array":
      return node.items.map((item) => renderJsonNode(item, scope));
    case "object": {
      // No prototype: a key named "__proto__" is then an ordinary field, not a prototype assignment.
      const rendered: Record<string, unknown> = Object.create(null);
      for (const [key, item] of node.entries) rendered[key] = renderJsonNode(item, scope);
      return rendered;
    }
  }
}

function hasTemplate(node: JsonBodyNode): boolean {
  switch (node.kind) {
    case "template":
      return true;
    case "literal":
      return false;
    case "array":
      return node.items.some(hasTemplate);
    case "object":
      return node.entries.some(([, item]) => hasTemplate(item));
  }
}

function serialiseJson(root: JsonBodyNode, scope: Scope): string {
  try {
    return JSON.stringify(renderJsonNode(root, scope));
  } catch (error) {
    throw new InvalidRequestError(`the JSON body cannot be serialised: ${describeError(error)}`);
  }
}

/** Renders the body to the bytes sent. Inserted values are JSON values, never JSON text spliced into JSON. */
export function renderBody(body: CompiledBody, scope: Scope): string | undefined {
  switch (body.kind) {
    case "none":
      return undefined;
    case "json":
      return body.constant ?? serialiseJson(body.root, scope);
    case "form": {
      const params = new URLSearchParams();
      for (const [name, template] of body.fields) params.append(name, template.render(scope));
      return params.toString();
    }
    case "text":
      return body.template.render(scope);
  }
}

/** Renders query parameters, encoded by the engine (encodeURIComponent style: space is `%20`). */
export function renderQuery(query: readonly [string, CompiledTemplate][], scope: Scope): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, template] of query) params.append(name, template.render(scope));
  return params;
}

/** Appends engine-encoded parameters to whatever query the URL already has. */
export function appendQuery(url: URL, params: URLSearchParams): URL {
  if (params.size === 0) return url;
  const existing = url.search.replace(/^\?/, "");
  url.search = existing ? `${existing}&${encodeQuery(params)}` : encodeQuery(params);
  return url;
}

/** Renders headers and refuses values with CR/LF. Names are lower-cased, as HTTP/1.1 treats them. */
export function renderHeaders(
  headers: readonly [string, CompiledTemplate][],
  scope: Scope,
): Record<string, string> {
  const rendered: Record<string, string> = {};
  for (const [name, template] of headers) {
    const value = template.render(scope);
    checkHeaderValue(name, value);
    rendered[name.toLowerCase()] = value;
  }
  return rendered;
}
