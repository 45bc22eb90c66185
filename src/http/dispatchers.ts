import type { Dispatcher } from "undici";
import { EgressPolicy } from "../core/egress-rules.js";
import { type EgressLookup, egressInterceptor } from "./egress.js";
import { createHttpAgent, withAgentAdmission } from "./sender.js";

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
}

/** Where the requests of an engine go: connectors' requests and flow-authored URLs apart. */
export interface EngineDispatchers {
  /** Connector requests and their token requests: trusted unless egressPolicyForConnectors. */
  readonly connectors: Dispatcher;
  /** Flow-authored URLs (`requestUrl`): always under the egress policy. */
  readonly flowUrls: Dispatcher;
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
  const agentOptions = { ca: options.ca, connectionsPerOrigin: options.connectionsPerOrigin };
  const guardedAgent = createHttpAgent({
    ...agentOptions,
    egress: { policy, lookup: options.egressLookup },
  });
  const trustedAgent = options.egressPolicyForConnectors ? undefined : createHttpAgent(agentOptions);
  return {
    connectors: compose(trustedAgent ?? guardedAgent),
    flowUrls: compose(guardedAgent),
    close: async () => {
      await Promise.all([guardedAgent.close(), trustedAgent?.close()]);
    },
  };
}
