/**
 * Every key and channel a fleet uses, under one prefix (docs/fleet.md, "Key layout"). Connector ids appear in key
 * names; secrets never do: fingerprints are keyed hashes (Sealer.nameFor).
 */
export interface FleetKeys {
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
 * On a Redis Cluster (`hashTagged`) the connector id in per-connector keys is a hash tag (`{id}`): the token
 * scripts use a connector's token, lease and index keys together, and a script's keys must share one slot
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags). Elsewhere names stay
 * as they were, so a fleet's existing keys keep working.
 */
export function fleetKeys(prefix: string, hashTagged = false): FleetKeys {
  const of = (id: string) => (hashTagged ? `{${id}}` : id);
  return {
    state: `${prefix}connectors`,
    changes: `${prefix}connectors:changed`,
    tokensOf: (id) => `${prefix}tokens-of:${of(id)}`,
    refreshOf: (id) => `${prefix}refresh-of:${of(id)}`,
    token: (id, name) => `${prefix}token:${of(id)}:${name}`,
    lease: (id, name) => `${prefix}lease:${of(id)}:${name}`,
    refresh: (id, name) => `${prefix}refresh:${of(id)}:${name}`,
  };
}
