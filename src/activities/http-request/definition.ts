import { z } from "zod";
import { HTTP_METHODS, type HttpMethod } from "../../core/http-types.js";
import { isSecretName } from "../../core/redact.js";
import { didYouMean } from "../../core/suggest.js";
import { checkRequestPath, InvalidRequestError, parseAbsoluteUrl } from "../../core/url-rules.js";
import { defineActivity } from "../../engine/activity.js";
import type { CompiledTemplate } from "../../engine/expressions.js";
import { compileParseSettings } from "../../engine/parse-settings.js";
import { nextLinks, parseSettingSchema, templateString } from "../../engine/schema-parts.js";
import { type CompiledHttpRequest, executeHttpRequest, type ResolvedHttpRequest } from "./exchange.js";
import {
  CONTENT_TYPES,
  compileBody,
  compileHeaders,
  compileNamedTemplates,
  renderBody,
  renderHeaders,
  renderQuery,
} from "./request-building.js";

export const MAX_TIMEOUT_MS = 60_000;

const schema = z
  .strictObject({
    type: z.literal("http-request"),
    description: z.string().optional(),
    useAuthenticatedEndpoint: z.boolean().default(true).meta({
      description: "On (default): connector + requestPath. Off: requestUrl, sent without credentials",
    }),
    connector: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "Connector name (as an admin sees it) or id" }),
    requestPath: templateString("Path appended to the connector's base URL, e.g. /api/accounts").optional(),
    requestUrl: templateString("Absolute https:// URL (unauthenticated endpoints only)").optional(),
    method: z
      .enum(HTTP_METHODS as [HttpMethod, ...HttpMethod[]])
      .default("GET")
      .meta({ description: "HTTP method (default GET)" }),
    queryParameters: z
      .record(z.string().min(1), templateString("Value, URL-encoded by the engine"))
      .optional()
      .meta({ description: "Query parameters: name -> template" }),
    headers: z.record(z.string().min(1), templateString("Header value")).optional().meta({
      description: "Request headers: name -> template. No Authorization on authenticated endpoints",
    }),
    contentType: z
      .enum(CONTENT_TYPES)
      .default("application/json")
      .meta({ description: "Content type of the body" }),
    body: z.unknown().optional().meta({
      description:
        "JSON: any JSON value whose string leaves are templates. Form: object of templates. Text/XML: a template",
    }),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .max(MAX_TIMEOUT_MS)
      .default(5000)
      .meta({ description: "Whole-activity deadline in ms, including token fetch and retries (max 60000)" }),
    retries: z
      .number()
      .int()
      .min(0)
      .max(3)
      .default(0)
      .meta({ description: "Retries for network errors/timeouts (idempotent methods) and 429/502/503/504" }),
    parseSettings: z
      .array(parseSettingSchema)
      .optional()
      .meta({ description: "JSON paths into a 2xx JSON response body, written into flow variables" }),
    next: nextLinks().optional(),
  })
  .meta({
    description: "Calls an HTTP endpoint, directly or through a connector, and parses the JSON response",
  });

type HttpRequestDefinition = z.infer<typeof schema>;

/** The URL part of the definition: the template for the mode, with mode problems reported. */
function compileTarget(def: HttpRequestDefinition, ctx: Parameters<typeof compileParseSettings>[2]) {
  const authenticated = def.useAuthenticatedEndpoint;
  if (def.requestPath !== undefined && def.requestUrl !== undefined)
    ctx.problem([], "set either requestPath (authenticated) or requestUrl (unauthenticated), not both");
  if (authenticated) {
    if (def.connector === undefined)
      ctx.problem(["connector"], "an authenticated endpoint needs a connector");
    if (def.requestPath === undefined)
      ctx.problem(
        ["requestPath"],
        "an authenticated endpoint needs a requestPath (or useAuthenticatedEndpoint: false)",
      );
    // Without a resolver connectors are unknowable at compile time; the run halts with connector-not-found.
    const resolver = ctx.services.connectors;
    const defined = (name: string) =>
      resolver?.defines ? resolver.defines(name) : resolver?.resolve(name) !== undefined;
    if (def.connector !== undefined && resolver && !defined(def.connector))
      ctx.problem(
        ["connector"],
        `connector "${def.connector}" is not defined${didYouMean(def.connector, resolver.names?.() ?? [])}`,
      );
    return ctx.template(["requestPath"], def.requestPath ?? "");
  }
  if (def.connector !== undefined)
    ctx.problem(
      ["connector"],
      "an unauthenticated endpoint (useAuthenticatedEndpoint: false) has no connector",
    );
  if (def.requestUrl === undefined)
    ctx.problem(["requestUrl"], "an unauthenticated endpoint needs a requestUrl");
  return ctx.template(["requestUrl"], def.requestUrl ?? "");
}

/** Checks the URL part on its own; a constant template is checked once, at compile time. */
function checkTarget(authenticated: boolean, target: string, allowLoopbackHttp: boolean): void {
  if (authenticated) checkRequestPath(target);
  else parseAbsoluteUrl(target, allowLoopbackHttp);
}

export const httpRequest = defineActivity({
  type: "http-request",
  schema,
  errorOutcomes: ["error", "timeout"],
  outcomes: () => ["success", "error", "timeout"],
  compile(def, ctx): CompiledHttpRequest {
    const authenticated = def.useAuthenticatedEndpoint;
    const target: CompiledTemplate = compileTarget(def, ctx);
    if (target.isConstant && (authenticated ? def.requestPath : def.requestUrl) !== undefined) {
      try {
        checkTarget(authenticated, target.source, ctx.services.http.allowLoopbackHttp);
      } catch (error) {
        if (!(error instanceof InvalidRequestError)) throw error;
        ctx.problem([authenticated ? "requestPath" : "requestUrl"], error.message);
      }
    }
    return {
      authenticated,
      connector: def.connector,
      target,
      method: def.method,
      query: compileNamedTemplates(def.queryParameters, ["queryParameters"], ctx),
      secretQuery: Object.keys(def.queryParameters ?? {}).some(isSecretName),
      headers: compileHeaders(def.headers, authenticated, ctx),
      contentType: def.contentType,
      body: compileBody(def.body, def.contentType, def.method, ctx),
      timeoutMs: def.timeoutMs,
      retries: def.retries,
      parseSettings: compileParseSettings(def.parseSettings ?? [], ["parseSettings"], ctx),
    };
  },
  resolve(compiled, ctx): ResolvedHttpRequest {
    const target = compiled.target.render(ctx.scope);
    const query = renderQuery(compiled.query, ctx.scope);
    try {
      // A constant target passed this check at compile time (or the flow did not compile).
      if (!compiled.target.isConstant) {
        checkTarget(compiled.authenticated, target, ctx.services.http.allowLoopbackHttp);
      }
      const headers = renderHeaders(compiled.headers, ctx.scope);
      return { compiled, target, query, headers, body: renderBody(compiled.body, ctx.scope) };
    } catch (error) {
      if (!(error instanceof InvalidRequestError)) throw error;
      return {
        compiled,
        target,
        query,
        headers: {},
        body: undefined,
        invalid: error.message,
        invalidCause: error.fixable,
      };
    }
  },
  perform: executeHttpRequest,
});
