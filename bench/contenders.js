// The flow and connector the benchmarks run: an OAuth client-credentials connector with a cached token,
// an http-request with 3 parse settings, a condition and a set-variable.
import { connectorHandle } from "../dist/connectors/connector-handle.js";
import { TokenCache } from "../dist/connectors/token-cache.js";

export const lookupFlow = {
  name: "bench-lookup",
  variables: {
    accountId: { type: "string" },
    isVip: { type: "boolean", default: false },
    balance: { type: "decimal", default: 0 },
    tier: { type: "string" },
  },
  start: "lookup",
  activities: {
    lookup: {
      type: "http-request",
      connector: "CRM",
      requestPath: "/api/accounts",
      method: "GET",
      queryParameters: { phone: "{{ contact.ani }}" },
      parseSettings: [
        { outputVariable: "accountId", pathExpression: "$.accounts[0].id", required: true },
        { outputVariable: "isVip", pathExpression: "$.accounts[0].vip" },
        { outputVariable: "balance", pathExpression: "$.accounts[0].balance" },
      ],
      next: { success: "route" },
    },
    route: { type: "condition", expression: "isVip and balance > 100", next: { true: "gold", false: "end" } },
    gold: {
      type: "set-variable",
      assignments: [{ variable: "tier", value: "gold" }],
      next: { default: "end" },
    },
    end: { type: "end-flow" },
  },
};

/** A custom OAuth client-credentials connector profile pointing at the bench server. */
export function oauthProfile(id, name, status, origin) {
  return {
    id,
    name,
    type: "custom",
    status,
    baseUrl: origin,
    allowedMethods: undefined,
    auth: {
      kind: "client-credentials",
      tokenUrl: `${origin}/oauth/token`,
      client: { clientId: "bench", clientSecret: "bench-secret", clientAuth: "basic" },
    },
    tokenExpiredStatuses: [401],
    tokenExpiredWhen: undefined,
    defaultLifetimeSeconds: 3600,
    baseUrlFromToken: false,
  };
}

/** A resolver with one OAuth client-credentials connector ("CRM") pointing at the bench server. */
export function crmResolver(origin, cache = new TokenCache()) {
  const handle = connectorHandle(oauthProfile("crm-1", "CRM", "active", origin), cache);
  return { resolve: (name) => (name === "CRM" || name === "crm-1" ? handle : undefined) };
}
