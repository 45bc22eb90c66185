import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { buildConnector, type Dispatcher } from "undici";
import { EgressDeniedError, type EgressPolicy } from "../core/egress-rules.js";

/** Resolves a host name to every address it has (dns.lookup with `all: true` by default); tests inject one. */
export type EgressLookup = (hostname: string) => Promise<readonly { address: string }[]>;

export const systemLookup: EgressLookup = (hostname) => dnsLookup(hostname, { all: true });

/**
 * The connect step of an Agent under the egress policy. For each new connection it resolves the host
 * once, checks every address it got, and connects to the first one itself: the socket never resolves the name
 * again, so an answer that changes between the check and the connection (DNS rebinding) cannot slip through.
 * TLS keeps the host name for SNI and certificate checks. A host name an operator allowed is resolved the same
 * way, its addresses not checked. A refusal fails the connection at once with
 * EgressDeniedError; undici hands it to every request waiting for that connection. Pooled connections are reused
 * without a new lookup, so the cost is one check per connection, none per request.
 */
export function egressConnector(
  policy: EgressPolicy,
  connectOptions: buildConnector.BuildOptions,
  lookup: EgressLookup = systemLookup,
): buildConnector.connector {
  const connect = buildConnector(connectOptions);
  return (options, callback) => {
    const { hostname } = options;
    const allowedName = policy.allowsName(hostname);
    try {
      // IP literals and localhost names are decided on the name alone, before any lookup.
      if (!allowedName) policy.checkHost(hostname);
    } catch (error) {
      callback(error as Error, null);
      return;
    }
    const resolved: Promise<readonly { address: string }[]> =
      isIP(hostname) !== 0 ? Promise.resolve([{ address: hostname }]) : lookup(hostname);
    resolved.then(
      (addresses) => {
        let address: string;
        try {
          if (addresses.length === 0) throw new Error(`${hostname} did not resolve to any address`);
          if (!allowedName)
            policy.checkResolved(
              hostname,
              addresses.map((entry) => entry.address),
            );
          address = addresses[0]!.address;
        } catch (error) {
          callback(error as Error, null);
          return;
        }
        const servername = options.servername ?? (isIP(hostname) === 0 ? hostname : undefined);
        connect({ ...options, hostname: address, servername }, callback);
      },
      (error: unknown) => callback(error as Error, null),
    );
  };
}

/**
 * The same policy as an interceptor, for dispatchers whose connect step the engine does not own (an injected
 * Agent, a MockAgent in replay): every request's host is checked before it is dispatched. IP literals in any
 * notation and `localhost` names are decided here; a name that resolves inward is caught only by
 * egressConnector, so a host that injects its own Agent should build it with egressConnector too.
 */
export function egressInterceptor(policy: EgressPolicy): Dispatcher.DispatcherComposeInterceptor {
  const checked = new Map<string, EgressDeniedError | null>();
  return (dispatch) => (options, handler) => {
    const origin = String(options.origin ?? "");
    let verdict = checked.get(origin);
    if (verdict === undefined) {
      verdict = null;
      try {
        policy.checkHost(new URL(origin).hostname);
      } catch (error) {
        if (!(error instanceof EgressDeniedError)) throw error;
        verdict = error;
      }
      if (checked.size >= 1024) checked.clear();
      checked.set(origin, verdict);
    }
    if (verdict !== null) {
      handler.onResponseError?.(null as never, new EgressDeniedError(verdict.message));
      return true;
    }
    return dispatch(options, handler);
  };
}
