import { z } from "zod";
import { commonFields, refreshTokenGeneration, secretSchema, url } from "../schema-fields.js";
import { bodyClientRefreshToken, defineConnectorType } from "./descriptor.js";

/** Google CCAI: a refresh token from "Sign in with Google"; CCAI configurations refer to these connectors. */

export const GOOGLE_CCAI_TOKEN_URL = "https://oauth2.googleapis.com/token";
export const GOOGLE_CCAI_RESOURCE_DOMAIN_URL = "https://dialogflow.googleapis.com";

export const googleCcaiConnectorSchema = z
  .strictObject({
    ...commonFields,
    type: z.literal("google-ccai"),
    clientId: z.string().min(1).meta({ description: "OAuth client id used for Sign in with Google" }),
    clientSecret: secretSchema,
    refreshToken: secretSchema.meta({ description: 'Refresh token obtained by "Sign in with Google"' }),
    refreshTokenGeneration: refreshTokenGeneration,
    project: z.string().min(1).meta({ description: "Google Cloud project id" }),
    serviceAccount: z.string().min(1).meta({ description: "Service account e-mail" }),
    tokenUrl: url("Token endpoint").default(GOOGLE_CCAI_TOKEN_URL),
    resourceDomainUrl: url("Base URL").default(GOOGLE_CCAI_RESOURCE_DOMAIN_URL),
  })
  .meta({
    description: "Google CCAI connector: refresh-token grant; not deletable while a CCAI config uses it",
  });

export const googleCcai = defineConnectorType({
  type: "google-ccai",
  schema: googleCcaiConnectorSchema,
  ...bodyClientRefreshToken<z.output<typeof googleCcaiConnectorSchema>>(),
  servesCcaiConfigs: true,
});
