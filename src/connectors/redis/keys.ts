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

export function fleetKeys(prefix: string): FleetKeys {
  return {
    state: `${prefix}connectors`,
    changes: `${prefix}connectors:changed`,
    tokensOf: (id) => `${prefix}tokens-of:${id}`,
    refreshOf: (id) => `${prefix}refresh-of:${id}`,
    token: (id, name) => `${prefix}token:${id}:${name}`,
    lease: (id, name) => `${prefix}lease:${id}:${name}`,
    refresh: (id, name) => `${prefix}refresh:${id}:${name}`,
  };
}
