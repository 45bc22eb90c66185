import { RedisConnection, type RedisConnectionOptions } from "./connection.js";
import { Sealer, TOKEN_KEY_ENV } from "./sealing.js";
import { RedisSharedTokens, type RefreshWhileUnreachable } from "./shared-tokens.js";
import { RedisConnectorStore, type RedisConnectorStoreOptions } from "./store.js";

export interface RedisFleetOptions extends RedisConnectionOptions, RedisConnectorStoreOptions {
  /**
   * The fleet's token key: base64 of 32 random bytes, the same in every process. Default: the environment
   * variable FLOWRUN_TOKEN_KEY. Missing or malformed: `connectRedisFleet` rejects with a TokenKeyError.
   */
  readonly tokenKey?: string;
  /** Where FLOWRUN_TOKEN_KEY is read when `tokenKey` is not given. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Refresh-token connectors while Redis cannot be used: `wait` (default) fails runs that need a new token with
   * `token-store-unavailable`; `refresh-locally` refreshes in the process and writes the rotated token back when
   * Redis answers (docs/fleet.md weighs the two).
   */
  readonly refreshWhileUnreachable?: RefreshWhileUnreachable;
}

/** One process's membership of a Redis fleet: the connector store and the shared token store. */
export interface RedisFleet {
  /** Open a registry on it: `ConnectorRegistry.open(fleet.store)` (it follows other processes' changes). */
  readonly store: RedisConnectorStore;
  /** Give it to the engine: `createEngine({ connectors: registry, sharedTokens: fleet.tokens })`. */
  readonly tokens: RedisSharedTokens;
  readonly connection: RedisConnection;
  /** Closes both Redis connections (close registries and engines first). */
  close(): Promise<void>;
}

/**
 * Connects to Redis. Fails fast with a clear error when the token key is missing or malformed (checked
 * first, without touching Redis) or when Redis cannot be reached; afterwards a lost Redis is survived.
 */
export async function connectRedisFleet(options: RedisFleetOptions): Promise<RedisFleet> {
  const sealer =
    options.tokenKey !== undefined
      ? Sealer.fromBase64(options.tokenKey, "the token key")
      : Sealer.fromBase64((options.env ?? process.env)[TOKEN_KEY_ENV], TOKEN_KEY_ENV);
  const connection = await RedisConnection.connect(options);
  return {
    store: new RedisConnectorStore(connection, sealer, options),
    tokens: new RedisSharedTokens(connection, sealer, {
      refreshWhileUnreachable: options.refreshWhileUnreachable,
    }),
    connection,
    close: () => connection.close(),
  };
}
