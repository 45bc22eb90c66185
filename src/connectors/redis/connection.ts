import { Redis } from "ioredis";
import { FlowrunError } from "../../core/errors.js";

/** Redis could not be reached at start, or a call failed or took too long while routing. */
export class RedisUnavailableError extends FlowrunError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("redis-unavailable", message, options);
    this.name = "RedisUnavailableError";
  }
}

export interface RedisConnectionOptions {
  /** `redis://[:password@]host[:port][/db]` or `rediss://...` (TLS). */
  readonly url: string;
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

/** Backoff between reconnect attempts: 100 ms doubling to 2 s. */
function reconnectDelay(attempt: number): number {
  return Math.min(2000, 100 * 2 ** Math.min(attempt - 1, 5));
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
  readonly commands: Redis;
  readonly subscriber: Redis;
  readonly keyPrefix: string;
  readonly url: string;
  readonly commandTimeoutMs: number;
  readonly requestTimeoutMs: number;
  #started = false;
  #closing = false;
  #lost = false;
  /** The last connection error, which says more than ioredis's "Connection is closed." */
  #lastError: Error | undefined;
  readonly #onWarning: (message: string) => void;

  private constructor(options: RedisConnectionOptions) {
    this.url = describeRedisUrl(options.url);
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 250;
    this.#onWarning = options.onWarning ?? (() => {});
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResubscribe: false,
      connectTimeout: options.connectTimeoutMs ?? 3000,
      commandTimeout: this.commandTimeoutMs,
      // Before the first connection a failure is final (start reports it); after it, reconnect forever.
      retryStrategy: (attempt: number) => (this.#started && !this.#closing ? reconnectDelay(attempt) : null),
    };
    this.commands = new Redis(options.url, { ...common, connectionName: "flowrun" });
    this.subscriber = new Redis(options.url, { ...common, connectionName: "flowrun-follow" });
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
    let connection: RedisConnection;
    try {
      connection = new RedisConnection(options);
    } catch (error) {
      throw new RedisUnavailableError(
        `cannot use Redis at ${describeRedisUrl(options.url)}: ${(error as Error).message}`,
      );
    }
    try {
      await Promise.all([connection.commands.connect(), connection.subscriber.connect()]);
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

/**
 * A Redis call bounded by `until` (`performance.now()` ms) as well as by the connection's own command timeout.
 * Rejects with RedisUnavailableError when the call fails, and with `expired()` (default: RedisUnavailableError)
 * when `until` passes first.
 */
export function bounded<T>(
  call: Promise<T>,
  until: number,
  what: string,
  expired: () => Error = () => new RedisUnavailableError(`Redis ${what} took too long`),
): Promise<T> {
  const remaining = Math.floor(until - performance.now());
  if (remaining <= 0) {
    call.catch(() => {});
    return Promise.reject(expired());
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(expired()), remaining);
    timer.unref?.();
    call.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(
          error instanceof RedisUnavailableError
            ? error
            : new RedisUnavailableError(`Redis ${what} failed: ${(error as Error).message}`, {
                cause: error,
              }),
        );
      },
    );
  });
}
