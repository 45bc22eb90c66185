import { createHash } from "node:crypto";
import type { Dispatcher } from "undici";
import { EgressPolicy } from "../core/egress-rules.js";
import { type EgressLookup, egressInterceptor } from "./egress.js";
import {
  type ConnectorProxy,
  type ConnectorTls,
  createTransport,
  type ProxyEnvironment,
  usesProxy,
} from "./proxy.js";
import { DEFAULT_CONNECTIONS_PER_ORIGIN, withAdmissionGate, withAgentAdmission } from "./sender.js";

export interface DispatcherOptions {
  /** An injected dispatcher (a host's Agent, a MockAgent in replay); the engine then owns no connection pool. */
  readonly dispatcher?: Dispatcher;
  readonly ca?: string | Buffer;
  readonly connectionsPerOrigin?: number;
  readonly allowLoopbackHttp?: boolean;
  /** Destinations operators allow flow-authored URLs to reach: CIDR ranges, addresses, host names. */
  readonly egressAllow?: readonly string[];
  /** Apply the egress policy to connector base URLs and token endpoints too (default: connectors are trusted). */
  readonly egressPolicyForConnectors?: boolean;
  /** How the engine's own Agents resolve host names on new connections (default dns.lookup, all addresses). */
  readonly egressLookup?: EgressLookup;
  /** Interceptors composed onto every dispatcher (recording uses one). */
  readonly interceptors?: readonly Dispatcher.DispatcherComposeInterceptor[];
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY as read from the environment (ignored with `dispatcher`). */
  readonly proxyEnvironment?: ProxyEnvironment;
}

/** What makes one connector's connections its own: its proxy and its client certificate or CA. */
export interface ConnectorTransportSettings {
  readonly proxy?: ConnectorProxy;
  readonly tls?: ConnectorTls;
}

/** Where the requests of an engine go: connectors' requests and flow-authored URLs apart. */
export interface EngineDispatchers {
  /** Connector requests and their token requests: trusted unless egressPolicyForConnectors. */
  readonly connectors: Dispatcher;
  /** Flow-authored URLs (`requestUrl`): always under the egress policy. */
  readonly flowUrls: Dispatcher;
  /**
   * The dispatcher of a connector with its own proxy or TLS settings, with the same admission, interceptors and
   * egress rules as `connectors`; one per distinct settings, closed with the engine. Undefined with an injected
   * dispatcher: the host owns the connections then, and the connector's proxy and TLS settings do not apply.
   */
  readonly forConnector?: (settings: ConnectorTransportSettings) => Dispatcher;
  /** Closes the pools the engine created (never an injected dispatcher). */
  close(): Promise<void>;
}

/**
 * Builds the dispatchers of an engine. Flow-authored URLs and trusted connectors never share a connection pool:
 * a pooled connection to a private CRM must not carry a flow's request to the same origin unchecked.
 *
 * With the engine's own Agents, the policy runs in the connect step (egressConnector: resolved addresses, on new
 * connections only). With an injected dispatcher the engine cannot see connections, so the host of every
 * flow-authored request is checked before dispatch instead (egressInterceptor: IP literals in any notation and
 * `localhost`); names are not resolved there.
 */
export function engineDispatchers(options: DispatcherOptions): EngineDispatchers {
  const policy = new EgressPolicy({
    allowLoopback: options.allowLoopbackHttp ?? false,
    allow: options.egressAllow ?? [],
  });
  const interceptors = options.interceptors ?? [];
  const compose = (dispatcher: Dispatcher) =>
    interceptors.length === 0
      ? dispatcher
      : withAgentAdmission(dispatcher, dispatcher.compose(...interceptors));
  if (options.dispatcher) {
    const injected = compose(options.dispatcher);
    const guarded = injected.compose(egressInterceptor(policy));
    return {
      connectors: options.egressPolicyForConnectors ? guarded : injected,
      flowUrls: guarded,
      close: async () => {},
    };
  }
  const owned: Dispatcher[] = [];
  const connections = options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN;
  const ca = options.ca === undefined ? [] : [options.ca.toString()];
  const egress = { policy, lookup: options.egressLookup };
  /**
   * Through a proxy the engine never resolves the target: the policy checks the target's name (IP literals,
   * localhost) before dispatch, and the proxy's own connection in the connect step.
   */
  const transport = (guarded: boolean, settings: ConnectorTransportSettings = {}) => {
    const proxied = settings.proxy !== undefined || usesProxy(options.proxyEnvironment);
    const pool = withAdmissionGate(
      createTransport({
        connections,
        ca: settings.tls?.ca ? [...ca, settings.tls.ca] : ca,
        tls: settings.tls,
        egress: guarded ? egress : undefined,
        environment: options.proxyEnvironment,
        proxy: settings.proxy,
      }),
      connections,
    );
    owned.push(pool);
    const checked =
      guarded && proxied ? withAgentAdmission(pool, pool.compose(egressInterceptor(policy))) : pool;
    return compose(checked);
  };
  const flowUrls = transport(true);
  const connectors = options.egressPolicyForConnectors ? flowUrls : transport(false);
  const perConnector = new Map<string, Dispatcher>();
  return {
    connectors,
    flowUrls,
    forConnector: (settings) => {
      const key = createHash("sha256").update(JSON.stringify(settings)).digest("base64url");
      let dispatcher = perConnector.get(key);
      if (!dispatcher) {
        dispatcher = transport(options.egressPolicyForConnectors === true, settings);
        perConnector.set(key, dispatcher);
      }
      return dispatcher;
    },
    close: async () => {
      await Promise.all(owned.map((pool) => pool.close()));
    },
  };
}
