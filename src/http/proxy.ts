import { rootCertificates } from "node:tls";
import { Agent, type buildConnector, type Dispatcher, EnvHttpProxyAgent, Pool, ProxyAgent } from "undici";
import { EgressDeniedError, type EgressPolicy } from "../core/egress-rules.js";
import { FlowrunError } from "../core/errors.js";
import { type EgressLookup, egressConnector } from "./egress.js";

/** Proxies named by the environment, read once when the engine is built. Empty when none is set. */
export interface ProxyEnvironment {
  readonly httpProxy: string;
  readonly httpsProxy: string;
  /** Comma- or space-separated hosts (suffix match), `host:port`, or `*`; undici's EnvHttpProxyAgent decides. */
  readonly noProxy: string;
}

/** A connector's own proxy, credentials resolved; it replaces the environment's for that connector. */
export interface ConnectorProxy {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

/** TLS for one connector's connections (client certificate, CA bundle), PEM, secrets resolved. */
export interface ConnectorTls {
  readonly cert?: string;
  readonly key?: string;
  readonly passphrase?: string;
  readonly ca?: string;
}

/**
 * The conventional variables, lower case first as curl and undici read them. The environment is passed in rather
 * than read from process.env here, so that an embedding host (and a test) decides what the engine sees.
 */
export function proxyEnvironment(env: Readonly<Record<string, string | undefined>>): ProxyEnvironment {
  const read = (name: string) => (env[name.toLowerCase()] ?? env[name] ?? "").trim();
  // `proxy.corp:3128` without a scheme means http://, as curl reads it.
  const proxyUrl = (name: string) => {
    const value = read(name);
    return value === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  };
  return {
    httpProxy: proxyUrl("HTTP_PROXY"),
    httpsProxy: proxyUrl("HTTPS_PROXY"),
    noProxy: read("NO_PROXY"),
  };
}

export function usesProxy(environment: ProxyEnvironment | undefined): boolean {
  return environment !== undefined && (environment.httpProxy !== "" || environment.httpsProxy !== "");
}

/** A proxy URL as messages may show it: never its user info. */
export function proxyLabel(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return "(an unreadable proxy URL)";
  }
}

/** `where` names the setting (a variable, a connector field); the message never shows the URL's user info. */
function checkedProxyUrl(url: string, where: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FlowrunError("invalid-proxy", `${where}: the proxy URL is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new FlowrunError("invalid-proxy", `${where}: proxy ${proxyLabel(url)} must be http:// or https://`);
  return parsed;
}

interface TransportOptions {
  readonly connections: number;
  /** Trusted in addition to Node's bundled roots: the engine's `ca` and a connector's `tls.ca`. */
  readonly ca?: readonly string[];
  readonly tls?: ConnectorTls;
  /** Checks the connections the engine opens itself (the proxy's, or the target's when not proxied). */
  readonly egress?: { policy: EgressPolicy; lookup?: EgressLookup };
  readonly environment?: ProxyEnvironment;
  /** Wins over `environment`. */
  readonly proxy?: ConnectorProxy;
}

function tlsOptions(options: TransportOptions): buildConnector.BuildOptions {
  const ca = options.ca?.length ? [...rootCertificates, ...options.ca] : undefined;
  const { cert, key, passphrase } = options.tls ?? {};
  return { ...(ca ? { ca } : {}), ...(cert ? { cert, key, passphrase } : {}) };
}

/**
 * The connections to the proxy itself, under the egress policy when there is one: the proxy must be an allowed
 * destination like any other.
 */
function proxyClientFactory(options: TransportOptions) {
  const egress = options.egress;
  if (!egress) return undefined;
  const label = (origin: URL) => proxyLabel(origin.href);
  return (origin: URL, clientOptions: object) => {
    const connect = egressConnector(egress.policy, {}, egress.lookup);
    // The refusal names the proxy: the target in the request line was allowed, its way out was not.
    const named: buildConnector.connector = (connectOptions, callback) =>
      connect(connectOptions, (error, socket) =>
        error instanceof EgressDeniedError
          ? callback(new EgressDeniedError(`proxy ${label(origin)}: ${error.message}`), null)
          : callback(error as Error, socket as never),
      );
    return new Pool(origin, { ...clientOptions, connect: named });
  };
}

/** `Proxy-Authorization: Basic` (RFC 7617) for a proxy that asks for credentials (RFC 9110 section 11.7.1). */
function proxyToken(proxy: ConnectorProxy): string | undefined {
  if (proxy.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ""}`, "utf8").toString("base64")}`;
}

/**
 * One pool of connections, direct or through a proxy: https targets through an HTTP CONNECT tunnel (RFC 9110
 * section 9.3.6), where TLS, the client certificate included, runs end to end with the target; plain http
 * targets are tunnelled too. The caller registers admission and composes interceptors on what this returns.
 */
export function createTransport(options: TransportOptions): Dispatcher {
  const tls = tlsOptions(options);
  const base = {
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    connections: options.connections,
  };
  const direct = options.egress ? egressConnector(options.egress.policy, tls, options.egress.lookup) : tls;
  const clientFactory = proxyClientFactory(options);
  if (options.proxy) {
    const uri = checkedProxyUrl(options.proxy.url, "the connector's proxy.url").href;
    const token = proxyToken(options.proxy);
    return new ProxyAgent({
      ...base,
      uri,
      requestTls: tls,
      ...(token ? { token } : {}),
      ...(clientFactory ? { clientFactory } : {}),
    });
  }
  const environment = options.environment;
  if (environment && usesProxy(environment)) {
    if (environment.httpProxy) checkedProxyUrl(environment.httpProxy, "HTTP_PROXY");
    if (environment.httpsProxy) checkedProxyUrl(environment.httpsProxy, "HTTPS_PROXY");
    return new EnvHttpProxyAgent({
      ...base,
      httpProxy: environment.httpProxy,
      httpsProxy: environment.httpsProxy || environment.httpProxy,
      noProxy: environment.noProxy,
      connect: direct,
      requestTls: tls,
      ...(clientFactory ? { clientFactory } : {}),
    });
  }
  return new Agent({ ...base, connect: direct });
}

/**
 * A proxy's refusal of a CONNECT, which undici reports as "Proxy response (407) !== 200 when HTTP Tunneling", in
 * words; undefined for any other error.
 */
export function proxyRefusal(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : "";
  const status = /^Proxy response \((\d{3})\)/.exec(message)?.[1];
  if (status === undefined) return undefined;
  return status === "407"
    ? "the proxy refused its credentials (HTTP 407 Proxy Authentication Required)"
    : `the proxy refused the tunnel (HTTP ${status})`;
}
