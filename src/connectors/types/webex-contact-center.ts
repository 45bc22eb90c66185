import { z } from "zod";
import type { HttpMethod } from "../../core/http-types.js";
import { commonFields, refreshTokenGeneration, secretSchema, url } from "../schema-fields.js";
import { bodyClientRefreshToken, defineConnectorType } from "./descriptor.js";

/** Webex Contact Center: the platform's own APIs, through a refresh-token grant. */

export const WEBEX_CONTACT_CENTER_TOKEN_URL = "https://webexapis.com/v1/access_token";
const READ_ONLY_METHODS: readonly HttpMethod[] = ["GET", "HEAD", "OPTIONS"];

export const webexContactCenterConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("webex-contact-center"),
    access: z.enum(["read-only", "read-write"]).meta({
      description: "read-only allows only GET, HEAD and OPTIONS; read-write allows every method",
    }),
    clientId: z.string().min(1).meta({ description: "Webex integration client id" }),
    clientSecret: secretSchema,
    refreshToken: secretSchema,
    refreshTokenGeneration: refreshTokenGeneration,
    tokenUrl: url("Token endpoint").default(WEBEX_CONTACT_CENTER_TOKEN_URL),
    resourceDomainUrl: url("Webex Contact Center API base URL, e.g. https://api.wxcc-us1.cisco.com"),
  })
  .meta({ description: "Webex Contact Center connector: the platform's own APIs (refresh-token grant)" });

export const webexContactCenter = defineConnectorType({
  type: "webex-contact-center",
  schema: webexContactCenterConnectorSchema,
  ...bodyClientRefreshToken<z.output<typeof webexContactCenterConnectorSchema>>(),
  allowedMethods: (connector) => (connector.access === "read-only" ? READ_ONLY_METHODS : undefined),
});
