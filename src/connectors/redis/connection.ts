import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from "ioredis";
import { type BackoffPolicy, Budget, backoffMs, realClock } from "../../core/budget.js";
import { FlowrunError } from "../../core/errors.js";

/** Redis could not be reached at start, or a call failed or took too long while routing. */
export class RedisUnavailableError extends FlowrunError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("redis-unavailable", message, options);
    this.name = "RedisUnavailableError";
  }
}

/**
 * Where the fleet's Redis is (docs/fleet.md, "Deployments"): exactly one of `url` (with `redis` options merged over
 * it), `redis` alone (a host, or a Sentinel group: `sentinels` and `name`), `cluster`, or `client`.
 */
export interface RedisConnectionOptions {
  /** `redis://[:password@]host[:port][/db]` or `rediss://...` (TLS). */
  readonly url?: string;
  /** ioredis options: TLS (`tls: { ca }`), Sentinel (`sentinels`, `name`), credentials, ... Over the URL's. */
  readonly redis?: RedisOptions;
  /** A Redis Cluster: seed nodes, and ioredis Cluster options (`redisOptions` for each node's connection). */
  readonly cluster?: { readonly nodes: readonly ClusterNode[]; readonly options?: ClusterOptions };
  /**
   * An ioredis client the host already has (a Redis or a Cluster): flowrun opens its two connections with the
   * client's options (`duplicate`), so the host's client keeps its own settings and is never closed by flowrun.
   */
  readonly client?: Redis | Cluster;
  /** Prefix of every key and channel, so that several fleets (or tests) share one Redis. Default `flowrun:`. */
  readonly keyPrefix?: string;
  /** How long the first connection may take before start fails. Default 3000 ms. */
  readonly connectTimeoutMs?: number;
  /** Upper bound of any single Redis call (calls on the request path are bounded by the activity deadline too). Default 2000 ms. */
  readonly commandTimeoutMs?: number;
  /**
   * Upper bound of one Redis call on the request path (token lookups while a run waits), within the activity
   * deadline: a slow Redis then costs a run this much before the process fetches the token itself. Default 250 ms.
   */
  readonly requestTimeoutMs?: number;
  /** Told once per outage that Redis was lost, and what the process does meanwhile. */
  readonly onWarning?: (message: string) => void;
}

export const DEFAULT_KEY_PREFIX = "flowrun:";

/**
 * Backoff between reconnect attempts: 100 ms doubling to 2 s, with the one backoff formula's jitter, so that the
 * processes of a fleet that lost Redis together do not all reconnect in step when it comes back.
 */
const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 2000, jitter: 0.25 };

function reconnectDelay(attempt: number): number {
  return backoffMs(RECONNECT_BACKOFF, attempt, realClock);
}

/**
 * A connection's commands. A Cluster has the same command methods as a Redis; one type keeps every call site
 * free of union overloads.
 */
type RedisCommands = Redis;

type IoRedis = Pick<typeof import("ioredis"), "Redis" | "Cluster">;

/** Which Redis the options name, for messages: never a password. */
function describeRedisTarget(options: RedisConnectionOptions): string {
  if (options.url !== undefined) return describeRedisUrl(options.url);
  if (options.cluster) return `cluster ${options.cluster.nodes.map(describeNode).join(",")}`;
  if (options.client) return "the host's ioredis client";
  const redis = options.redis ?? {};
  if (redis.sentinels)
    return `sentinel group "${redis.name ?? "mymaster"}" via ${redis.sentinels.map(describeNode).join(",")}`;
  return `${redis.tls ? "rediss" : "redis"}://${redis.host ?? "localhost"}:${redis.port ?? 6379}`;
}

function describeNode(node: ClusterNode | Partial<{ host: string; port: number }>): string {
  if (typeof node === "number") return `localhost:${node}`;
  if (typeof node === "string") return describeRedisUrl(node);
  return `${node.host ?? "localhost"}:${node.port ?? 6379}`;
}

function checkedTarget(options: RedisConnectionOptions): void {
  const given = [options.url ?? options.redis, options.cluster, options.client].filter(
    (x) => x !== undefined,
  );
  if (given.length !== 1)
    throw new FlowrunError(
      "invalid-option",
      "Redis options: give exactly one of url (with or without redis options), redis, cluster or client",
    );
}

/** The URL without its credentials, for messages: the password in `user:pass@` and any query parameter. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    // ioredis reads options (password, username, ...) from the query too; none is needed to tell which Redis.
    if (parsed.search) parsed.search = "?***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "(unparseable Redis URL)";
  }
}

/**
 * The two connections a fleet member keeps: one for commands, one subscribed to change messages (a subscribed
 * connection can run no other commands). Start fails fast with a clear error; afterwards both reconnect forever
 * with backoff while the process routes on with what it has. Commands are never queued while disconnected
 * (`enableOfflineQueue: false`): a call fails at once, so a lost Redis costs the request path nothing.
 */
export class RedisConnection {
  readonly commands: RedisCommands;
  readonly subscriber: RedisCommands;
  readonly keyPrefix: string;
  /** Which Redis, for messages (no credentials). */
  readonly url: string;
  /** A Redis Cluster: keys a script uses together are hash-tagged into one slot (keys.ts). */
  readonly cluster: boolean;
  readonly commandTimeoutMs: number;
  readonly requestTimeoutMs: number;
  #started = false;
  #closing = false;
  #lost = false;
  /** The last connection error, which says more than ioredis's "Connection is closed." */
  #lastError: Error | undefined;
  readonly #onWarning: (message: string) => void;

  private constructor(ioredis: IoRedis, options: RedisConnectionOptions) {
    this.url = describeRedisTarget(options);
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 250;
    this.#onWarning = options.onWarning ?? (() => {});
    // Before the first connection a failure is final (start reports it); after it, reconnect forever.
    const retryStrategy = (attempt: number) =>
      this.#started && !this.#closing ? reconnectDelay(attempt) : null;
    const perConnection = {
      maxRetriesPerRequest: 1,
      autoResubscribe: false,
      connectTimeout: options.connectTimeoutMs ?? 3000,
      commandTimeout: this.commandTimeoutMs,
    };
    const open = openerFor(ioredis, options, perConnection, retryStrategy);
    this.cluster = open.cluster;
    this.commands = open("flowrun");
    this.subscriber = open("flowrun-follow");
    for (const connection of [this.commands, this.subscriber]) {
      // Without a listener ioredis prints every failed reconnect attempt; one warning per outage is enough.
      connection.on("error", (error: Error) => {
        this.#lastError = error;
      });
      connection.on("close", () => this.#noteLost());
    }
    this.commands.on("ready", () => {
      this.#lost = false;
    });
  }

  static async connect(options: RedisConnectionOptions): Promise<RedisConnection> {
    checkedTarget(options);
    // ioredis is loaded when a fleet connects, not when flowrun is imported (most hosts never use Redis).
    const ioredis = await import("ioredis");
    let connection: RedisConnection;
    try {
      connection = new RedisConnection(ioredis, options);
    } catch (error) {
      throw new RedisUnavailableError(
        `cannot use Redis at ${describeRedisTarget(options)}: ${(error as Error).message}`,
      );
    }
    try {
      // allSettled: both attempts end before either connection is dropped, so no handshake is cut mid-way.
      const settled = await Promise.allSettled([
        connection.commands.connect(),
        connection.subscriber.connect(),
      ]);
      const failed = settled.find((outcome) => outcome.status === "rejected");
      if (failed) throw failed.reason;
    } catch (error) {
      connection.#closing = true;
      connection.commands.disconnect();
      connection.subscriber.disconnect();
      const cause = connection.#lastError ?? (error as Error);
      const reason = (cause as { code?: string }).code ?? cause.message;
      throw new RedisUnavailableError(`cannot reach Redis at ${connection.url} (${reason})`, {
        cause: error,
      });
    }
    connection.#started = true;
    return connection;
  }

  /** Whether the command connection is up now (a call would be sent rather than refused). */
  get available(): boolean {
    return this.commands.status === "ready";
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      [this.commands, this.subscriber].map((connection) =>
        connection.status === "ready"
          ? connection.quit().catch(() => connection.disconnect())
          : connection.disconnect(),
      ),
    );
  }

  /** Tells the host something worth a warning about the fleet (the connection's `onWarning`). */
  warn(message: string): void {
    this.#onWarning(message);
  }

  #noteLost(): void {
    if (!this.#started || this.#closing || this.#lost) return;
    this.#lost = true;
    this.#onWarning(
      `lost the connection to Redis at ${this.url}; routing goes on with the connectors and tokens this process ` +
        "has (token requests are single-flight per process until Redis is back); reconnecting with backoff",
    );
  }
}

/** Opens one connection (named for CLIENT LIST) to the configured Redis; `cluster` says which kind it is. */
type Opener = ((name: string) => RedisCommands) & { cluster: boolean };

/**
 * How flowrun's connections are opened: lazily, without an offline queue, with flowrun's timeouts and retry
 * strategy over whatever the host configured (TLS, Sentinel, credentials).
 */
function openerFor(
  ioredis: IoRedis,
  options: RedisConnectionOptions,
  perConnection: Partial<RedisOptions>,
  retryStrategy: (attempt: number) => number | null,
): Opener {
  const flowrunRedis = { ...perConnection, lazyConnect: true, enableOfflineQueue: false, retryStrategy };
  const client = options.client;
  if (options.cluster || (client !== undefined && client instanceof ioredis.Cluster)) {
    // ioredis merges a duplicate's options one level deep: the host's node options (password, TLS) must be
    // spread in here, or flowrun's redisOptions would replace them.
    const hostRedisOptions =
      client instanceof ioredis.Cluster
        ? client.options.redisOptions
        : options.cluster?.options?.redisOptions;
    const clusterOptions = (name: string): ClusterOptions => ({
      ...options.cluster?.options,
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { ...hostRedisOptions, ...perConnection, connectionName: name },
    });
    const open = (name: string) =>
      (client instanceof ioredis.Cluster
        ? client.duplicate(undefined, clusterOptions(name))
        : new ioredis.Cluster([...(options.cluster?.nodes ?? [])], clusterOptions(name))) as unknown as Redis;
    return Object.assign(open, { cluster: true });
  }
  const open = (name: string): Redis => {
    const settings = { ...options.redis, ...flowrunRedis, connectionName: name };
    if (client !== undefined) return (client as Redis).duplicate(settings);
    return options.url === undefined ? new ioredis.Redis(settings) : new ioredis.Redis(options.url, settings);
  };
  return Object.assign(open, { cluster: false });
}

/**
 * A Redis call bounded by `until` (`performance.now()` ms) as well as by the connection's own command timeout.
 * Rejects with RedisUnavailableError when the call fails, and with `expired()` (default: RedisUnavailableError)
 * when `until` passes first.
 */
export async function bounded<T>(
  call: Promise<T>,
  until: number,
  what: string,
  expired: () => Error = () => new RedisUnavailableError(`Redis ${what} took too long`),
): Promise<T> {
  if (Math.floor(until - performance.now()) <= 0) {
    call.catch(() => {});
    throw expired();
  }
  const budget = new Budget(until, { expiredReason: expired, unref: true });
  try {
    return await budget.race(
      call.catch((error: unknown) => {
        throw error instanceof RedisUnavailableError
          ? error
          : new RedisUnavailableError(`Redis ${what} failed: ${(error as Error).message}`, { cause: error });
      }),
    );
  } finally {
    budget.release();
  }
}
