import type { Dispatcher } from "undici";
import { describeError } from "../core/errors.js";
import { scrubSecrets } from "../core/redact.js";
import { createTransport, proxyEnvironment } from "../http/proxy.js";
import { AttemptError, sendAttempt } from "../http/sender.js";
import type { Connector, SecretValue } from "./schema.js";
import { resolveSecret, type SecretContext, valueAt } from "./secrets.js";
import { connectorTransport } from "./transport.js";
import type { ConnectivityProbe } from "./types/descriptor.js";
import { connectorType } from "./types/index.js";
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
  /**
   * Default: connections of its own for each check, through the connector's proxy and with its client
   * certificate, or through HTTPS_PROXY/HTTP_PROXY/NO_PROXY of `env`.
   */
  readonly dispatcher?: Dispatcher;
  /** The whole check, connection to last byte (default 10 s). */
  readonly timeoutMs?: number;
}

/** A validation answer is read only to quote its start in a failure; more than this is not an answer to quote. */
const MAX_VALIDATION_RESPONSE_BYTES = 64 * 1024;

export function unavailable(connector: Connector): ConnectivityResult {
  return {
    status: "unavailable",
    message: `connectivity not checked: flowrun can check it only for custom Basic auth with a validationUrl, not for ${describeType(connector)}`,
  };
}

/**
 * GETs the URL a connector's type names to check its credentials (custom Basic auth: `validationUrl`, with the
 * Basic credentials); any 2xx is success.
 */
export function createBasicAuthValidator(options: BasicValidatorOptions): ConnectivityValidator {
  return async (connector) => {
    const secret = (field: string) => resolveSecret(connector, field, secretAt(connector, field), options);
    const probe = connectorType(connector).connectivityProbe?.(connector, secret);
    if (probe === undefined) return unavailable(connector);
    if (probe === "no-validation-url")
      return { status: "unavailable", message: "no validationUrl set, so connectivity was not checked" };
    const badUrl = urlProblem(probe.url, options);
    if (badUrl) return { status: "failed", message: `${probe.field} ${badUrl}` };
    return sendProbe(connector, probe, options);
  };
}

async function sendProbe(
  connector: Connector,
  probe: ConnectivityProbe,
  options: BasicValidatorOptions,
): Promise<ConnectivityResult> {
  const { headers, secrets } = probe.credentials();
  const url = probe.url;
  let own: Dispatcher | undefined;
  try {
    own = options.dispatcher ? undefined : checkDispatcher(connector, options);
    // The one sender never follows redirects, so the credentials cannot leak to another origin.
    const response = await sendAttempt({
      url: new URL(url),
      method: "GET",
      headers: { ...headers, accept: "application/json, text/plain, */*" },
      body: undefined,
      dispatcher: options.dispatcher ?? own!,
      maxResponseBytes: MAX_VALIDATION_RESPONSE_BYTES,
      deadline: performance.now() + (options.timeoutMs ?? 10_000),
    });
    const body = response.body.slice(0, 300).trim();
    if (response.status >= 200 && response.status < 300)
      return { status: "ok", message: `GET ${url} answered ${response.status}` };
    const detail = body ? `: ${scrubSecrets(body, [...secrets])}` : "";
    return { status: "failed", message: `GET ${url} answered ${response.status}${detail}` };
  } catch (error) {
    const reason = error instanceof AttemptError ? `${error.code}: ${error.message}` : describeError(error);
    return { status: "failed", message: `GET ${url} failed: ${scrubSecrets(reason, [...secrets])}` };
  } finally {
    await own?.close();
  }
}

/** One check's connections: the connector's proxy and certificate, else the environment's proxy, else direct. */
function checkDispatcher(connector: Connector, context: SecretContext): Dispatcher {
  const transport = connectorTransport(
    connector,
    (field) => resolveSecret(connector, field, secretAt(connector, field), context),
    () => {},
  );
  return createTransport({
    connections: 1,
    ca: transport?.tls?.ca ? [transport.tls.ca] : [],
    tls: transport?.tls,
    proxy: transport?.proxy,
    environment: proxyEnvironment(context.env),
  });
}

function secretAt(connector: Connector, field: string): SecretValue {
  return valueAt(connector, field.split(".")) as SecretValue;
}

function describeType(connector: Connector): string {
  return connectorType(connector).describe?.(connector) ?? connector.type;
}
