import { urlRuleBreach } from "../core/url-rules.js";
import type { Connector } from "./schema.js";
import type { ConnectorEndpoints, ConnectorUrl } from "./types/descriptor.js";
import { connectorType } from "./types/index.js";

/** The https rule (core/url-rules.ts) as the connectors file states it, and where each connector's URLs point. */

export interface UrlRuleOptions {
  /**
   * @deprecated No effect on stores and registries: a connectors document may name plain `http://` loopback URLs,
   * and whether they are used is the one switch `createEngine({ allowLoopbackHttp })` (`--allow-loopback-http`).
   */
  readonly allowLoopbackHttp?: boolean;
}

/**
 * The rule a connectors document is held to: https, or plain http to a loopback host. Whether a loopback http URL
 * may be sent to is the engine's switch, checked where requests are built (core/url-rules.ts `checkSendableUrl`,
 * registry-resolver.ts for token URLs): one switch instead of one per store, registry and engine.
 */
const DOCUMENT_URL_RULE: UrlRuleOptions = { allowLoopbackHttp: true };

/** Why `text` is not acceptable as a base or token URL, or undefined when it is. */
export function urlProblem(text: string, options: UrlRuleOptions = {}): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return `is not an absolute URL: ${JSON.stringify(text)}`;
  }
  switch (urlRuleBreach(parsed, options.allowLoopbackHttp ?? false)) {
    case undefined:
      return undefined;
    case "credentials":
      return "must not carry credentials (user:password@); use the auth fields";
    case "not-http":
      return `must start with https:// (got ${parsed.protocol}//)`;
    case "http-not-loopback":
      return "must start with https:// (plain http:// is accepted only for loopback hosts with allowLoopbackHttp)";
    case "loopback-http-not-allowed":
      return "uses plain http:// on a loopback host, which is accepted only with allowLoopbackHttp (--allow-loopback-http)";
  }
}

/** The URLs a connector sends credentials or requests to, by field, as configured (defaults applied). */
export function connectorUrls(connector: Connector): ConnectorUrl[] {
  return connectorType(connector).urls(connector);
}

/** Every URL rule the connector breaks, by field. */
export function connectorUrlProblems(connector: Connector): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  for (const { field, url } of connectorUrls(connector)) {
    const problem = urlProblem(url, DOCUMENT_URL_RULE);
    if (problem) problems.push({ field, message: `${field} ${problem}` });
  }
  return problems;
}

/**
 * Where requests and token requests go, with the per-type defaults that depend on other fields resolved. The auth
 * strategies use this; `baseUrl` is undefined for Salesforce until the token response names the instance.
 */
export function connectorEndpoints(connector: Connector): ConnectorEndpoints {
  return connectorType(connector).endpoints(connector);
}
