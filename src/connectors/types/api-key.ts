import { z } from "zod";
import { commonFields, secretSchema, url } from "../schema-fields.js";
import { defineConnectorType, definedUrls, plainAuth } from "./descriptor.js";

/** API key connectors: any API that takes a key in a request header. */

export const API_KEY_HEADER_NAME = "X-API-Key";

/** RFC 9110 section 5.1: a field name is a token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Headers the key may not be sent in: flowrun or the connection sets them (a key there would be overwritten or
 * break the request), or they carry other credentials (Basic and OAuth 2.0 are custom connectors' job).
 */
const FORBIDDEN_HEADER_NAMES: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "cookie",
  "set-cookie",
  "traceparent",
  "tracestate",
]);

export const apiKeyConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("api-key"),
    resourceDomainUrl: url("Base URL requests are built on (https://)"),
    apiKey: secretSchema.meta({ description: "The API key, sent with every request in headerName" }),
    headerName: z
      .string()
      .regex(HEADER_NAME, "must be a valid header name")
      .refine((name) => !FORBIDDEN_HEADER_NAMES.has(name.toLowerCase()), {
        error: (issue) =>
          `${String(issue.input)} cannot carry the key: flowrun or the connection sets it, or it holds other credentials (use a custom connector for Basic or OAuth 2.0)`,
      })
      .default(API_KEY_HEADER_NAME)
      .meta({ description: `Header the key is sent in (default ${API_KEY_HEADER_NAME})` }),
    valuePrefix: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Text sent before the key in the header, e.g. "ApiKey " (default: none)' }),
  })
  .meta({ description: "API key connector: a key sent in a request header (up to 10 per organisation)" });

export const apiKey = defineConnectorType({
  type: "api-key",
  schema: apiKeyConnectorSchema,
  limitPerOrganisation: 10,
  secretPaths: [["apiKey"]],
  urls: (connector) => definedUrls(["resourceDomainUrl", connector.resourceDomainUrl]),
  endpoints: (connector) => ({ baseUrl: connector.resourceDomainUrl, tokenUrl: undefined }),
  authenticate: (connector, secret) =>
    plainAuth({
      kind: "static-header",
      headerName: connector.headerName.toLowerCase(),
      value: `${connector.valuePrefix ?? ""}${secret("apiKey")}`,
    }),
});
