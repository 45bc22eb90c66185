/**
 * Every key and channel a fleet uses, under one prefix (docs/fleet.md, "Key layout"). Connector ids appear in key
 * names; secrets never do: fingerprints are keyed hashes (Sealer.nameFor).
 */
export interface FleetKeys {
  /** What every key name starts with: the prefix, as a hash tag on a Cluster (`{flowrun:}`). */
  readonly base: string;
  /** Hash: `version`, `count`, `document` (the connectors document, secrets sealed). */
  readonly state: string;
  /** Pub/sub channel: the new version after every change. */
  readonly changes: string;
  /** Set of the token and lease keys of one connector, dropped with it on a change. */
  tokensOf(connectorId: string): string;
  /** Set of the rotated refresh token keys of one connector, dropped when it is deleted. */
  refreshOf(connectorId: string): string;
  token(connectorId: string, settingsName: string): string;
  lease(connectorId: string, settingsName: string): string;
  refresh(connectorId: string, configuredName: string): string;
}

/**
 * On a Redis Cluster (`hashTagged`) the prefix is a hash tag (`{flowrun:}connectors`, `{flowrun:}token:crm-1:…`),
 * so every key of a fleet is in one slot: the token scripts use a connector's token, lease and index keys together,
 * and saving the connectors document drops the changed connectors' token keys in the same script, and a script's
 * keys must share one slot
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags). A fleet's keys are few and
 * small; the Cluster is there for failover, not to spread them. Elsewhere names stay as they were, so a fleet's
 * existing keys keep working.
 */
export function fleetKeys(prefix: string, hashTagged = false): FleetKeys {
  const base = hashTagged ? `{${prefix}}` : prefix;
  return {
    base,
    state: `${base}connectors`,
    changes: `${prefix}connectors:changed`,
    tokensOf: (id) => `${base}tokens-of:${id}`,
    refreshOf: (id) => `${base}refresh-of:${id}`,
    token: (id, name) => `${base}token:${id}:${name}`,
    lease: (id, name) => `${base}lease:${id}:${name}`,
    refresh: (id, name) => `${base}refresh:${id}:${name}`,
  };
}
