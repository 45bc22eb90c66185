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

/**
 * The second flow, so that the gain is not shaped to one flow: a lookup (GET, 2 parse settings), a case on the
 * account's tier, a POST with a templated JSON body logging the interaction (1 parse setting), a set-variable.
 */
export const interactionFlow = {
  name: "bench-interaction",
  variables: {
    accountId: { type: "string" },
    isVip: { type: "boolean", default: false },
    interactionId: { type: "string" },
    label: { type: "string" },
  },
  start: "lookup",
  activities: {
    lookup: {
      ...lookupFlow.activities.lookup,
      parseSettings: lookupFlow.activities.lookup.parseSettings.slice(0, 2),
      next: { success: "byTier" },
    },
    byTier: {
      type: "case",
      expression: "isVip",
      cases: { true: "log", false: "log" },
      next: { default: "log" },
    },
    log: {
      type: "http-request",
      connector: "CRM",
      requestPath: "/api/interactions",
      method: "POST",
      body: { accountId: "{{ accountId }}", ani: "{{ contact.ani }}", vip: "{{ isVip }}", channel: "voice" },
      parseSettings: [{ outputVariable: "interactionId", pathExpression: "$.id", required: true }],
      next: { success: "route" },
    },
    route: {
      type: "set-variable",
      assignments: [{ variable: "label", value: "logged {{ interactionId }}" }],
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
