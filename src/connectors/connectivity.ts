import { type Dispatcher, request } from "undici";
import { describeError } from "../core/errors.js";
import { scrubSecrets } from "../core/redact.js";
import type { Connector } from "./schema.js";
import { resolveSecret, type SecretContext } from "./secrets.js";
import { urlProblem } from "./url-rules.js";

/**
 * Connectivity validation on save and on reactivation. The registry calls an injectable validator; the auth
 * strategies (token fetching) will supply one for every type. Until then basic auth with a `validationUrl` is
 * checked here and the other types report that validation is not available.
 */
export interface ConnectivityResult {
  readonly status: "ok" | "failed" | "unavailable";
  /** For people: what the server answered, or why nothing was checked. Never contains a secret. */
  readonly message: string;
}

export type ConnectivityValidator = (connector: Connector) => Promise<ConnectivityResult>;

export interface BasicValidatorOptions extends SecretContext {
  readonly allowLoopbackHttp?: boolean;
  readonly dispatcher?: Dispatcher;
  readonly timeoutMs?: number;
}

export function unavailable(connector: Connector): ConnectivityResult {
  return {
    status: "unavailable",
    message: `connectivity validation not available for ${describeType(connector)} yet`,
  };
}

/** GETs `validationUrl` with the Basic credentials of a custom basic-auth connector; any 2xx is success. */
export function createBasicAuthValidator(options: BasicValidatorOptions): ConnectivityValidator {
  return async (connector) => {
    if (connector.type !== "custom" || connector.auth.type !== "basic") return unavailable(connector);
    const { validationUrl, username } = connector.auth;
    if (validationUrl === undefined)
      return { status: "unavailable", message: "no validationUrl set, so connectivity was not checked" };
    const badUrl = urlProblem(validationUrl, options);
    if (badUrl) return { status: "failed", message: `auth.validationUrl ${badUrl}` };
    const password = resolveSecret(connector, "auth.password", connector.auth.password, options);
    const secrets = [password, `${username}:${password}`];
    const timeout = options.timeoutMs ?? 10_000;
    try {
      const response = await request(validationUrl, {
        method: "GET",
        headers: {
          authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`,
          accept: "application/json, text/plain, */*",
        },
        dispatcher: options.dispatcher,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      // undici.request never follows redirects, so credentials cannot leak to another origin.
      const body = (await response.body.text()).slice(0, 300).trim();
      if (response.statusCode >= 200 && response.statusCode < 300)
        return { status: "ok", message: `GET ${validationUrl} answered ${response.statusCode}` };
      const detail = body ? `: ${scrubSecrets(body, secrets)}` : "";
      return { status: "failed", message: `GET ${validationUrl} answered ${response.statusCode}${detail}` };
    } catch (error) {
      return {
        status: "failed",
        message: `GET ${validationUrl} failed: ${scrubSecrets(describeError(error), secrets)}`,
      };
    }
  };
}

function describeType(connector: Connector): string {
  if (connector.type !== "custom") return connector.type;
  return connector.auth.type === "basic" ? "custom (basic)" : `custom (oauth2 ${connector.auth.grantType})`;
}
