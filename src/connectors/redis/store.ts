import { describeError } from "../../core/errors.js";
import { ConnectorError } from "../errors.js";
import type { ConnectorStore, LoadedConnectors } from "../file-store.js";
import { parseConnectorsDocument } from "../rules.js";
import type { ConnectorsFile } from "../schema.js";
import { secretFieldPaths, setValueAt, valueAt } from "../secrets.js";
import type { UrlRuleOptions } from "../url-rules.js";
import type { RedisConnection } from "./connection.js";
import { type FleetKeys, fleetKeys } from "./keys.js";
import type { Sealer } from "./sealing.js";

export interface RedisConnectorStoreOptions extends UrlRuleOptions {
  /** The folder `{ file }` secrets are relative to. Default: the working directory. */
  readonly baseDir?: string;
}

/** Lua: drops the token, lease (and for deleted connectors, rotated refresh token) keys of connectors. */
const DROP_FUNCTIONS = `
local function drop(set)
  for _, key in ipairs(redis.call('SMEMBERS', set)) do redis.call('DEL', key) end
  redis.call('DEL', set)
end
local function dropConnectors(prefix, changedCount, first)
  for i = first, first + changedCount - 1 do drop(prefix .. 'tokens-of:' .. ARGV[i]) end
  for i = first + changedCount, #ARGV do
    drop(prefix .. 'tokens-of:' .. ARGV[i])
    drop(prefix .. 'refresh-of:' .. ARGV[i])
  end
end
`;

/**
 * Optimistic concurrency: the document is written only when the version is still the one this process read, so
 * of two admins racing, the second is refused and changes nothing. One version for the whole document, not one per
 * connector, because the rules span connectors (unique names, limits per type): per-connector versions would let
 * two admins create "CRM" at once. Saving, dropping the changed connectors' shared tokens and announcing the new
 * version happen in one script, so no process can see one without the others.
 *
 * KEYS[1] state hash. ARGV: mode (save | import | replace), expected version, document, connector count, channel,
 * prefix, number of changed ids, then changed ids, then deleted ids.
 */
const SAVE_SCRIPT = `${DROP_FUNCTIONS}
local version = redis.call('HGET', KEYS[1], 'version') or '0'
local mode = ARGV[1]
if mode == 'save' and version ~= ARGV[2] then return {0, version} end
if mode == 'import' and tonumber(redis.call('HGET', KEYS[1], 'count') or '0') > 0 then return {-1, version} end
local next = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'document', ARGV[3], 'count', ARGV[4])
dropConnectors(ARGV[6], tonumber(ARGV[7]), 8)
redis.call('PUBLISH', ARGV[5], tostring(next))
return {1, tostring(next)}
`;

export interface ImportResult {
  /** Connectors the store held before (replaced; 0 for a first import). */
  readonly replaced: number;
  readonly imported: number;
}

/**
 * The organisation's connectors in Redis: the registry applies every connector rule as with a file; this
 * store adds optimistic concurrency, seals plain-text secrets (AES-256-GCM under FLOWRUN_TOKEN_KEY) so that nothing
 * secret is stored in clear, drops a changed connector's shared tokens and announces every change on a channel
 * that `watch` follows.
 */
export class RedisConnectorStore implements ConnectorStore {
  readonly keys: FleetKeys;
  /** The version of the state as last read or written; saves are refused unless Redis still has it. */
  #version = "0";
  /** Each connector as last read or written (JSON), to know which ones a save changes. */
  #known = new Map<string, string>();

  constructor(
    private readonly connection: RedisConnection,
    private readonly sealer: Sealer,
    private readonly options: RedisConnectorStoreOptions = {},
  ) {
    this.keys = fleetKeys(connection.keyPrefix, connection.cluster);
  }

  /** Where the store is, for messages. */
  get location(): string {
    return `Redis ${this.connection.url} (prefix ${this.connection.keyPrefix})`;
  }

  async load(): Promise<LoadedConnectors> {
    return this.#read(true);
  }

  /**
   * `lostGuard`: a state that vanished after this process saw one (a Redis restarted without persistence, keys
   * deleted) is an error rather than "no connectors": a following registry keeps its last good state and warns,
   * instead of halting every flow.
   */
  async #read(lostGuard: boolean): Promise<LoadedConnectors> {
    const [version, text] = await this.#call("read", () =>
      this.connection.commands.hmget(this.keys.state, "version", "document"),
    );
    if (lostGuard && version === null && this.#version !== "0")
      throw new ConnectorError(
        "connectors-store",
        `${this.location} holds no connectors any more (was Redis restarted without persistence, or were the keys deleted?); ` +
          "seed it again with `flowrun connectors import FILE --redis URL`",
      );
    const raw = text ? this.#unseal(this.#parse(text)) : { connectors: [] };
    const { document } = parseConnectorsDocument(raw, this.location, this.options);
    this.#remember(version ?? "0", document);
    // Plain-text secrets are sealed in Redis, so the file store's "stored insecurely" warnings do not apply.
    return { document, warnings: [], baseDir: this.options.baseDir ?? process.cwd() };
  }

  async save(document: ConnectorsFile): Promise<void> {
    const { changed, deleted } = this.#changes(document);
    const [status, version] = await this.#write("save", document, changed, deleted);
    if (status === 0)
      throw new ConnectorError(
        "concurrent-change",
        `the connectors in ${this.location} changed since they were read (version ${version}, read ${this.#version}): ` +
          "someone else saved first; nothing was written, so their change is kept. Run the command again to apply yours on top of it.",
      );
    this.#remember(version, document);
  }

  /**
   * Seeds the store with a whole document (`flowrun connectors import`): refused when the store already holds
   * connectors unless `replace`. Replacing drops every shared token of the connectors it held.
   */
  async importDocument(document: ConnectorsFile, options: { replace?: boolean } = {}): Promise<ImportResult> {
    const parsed = parseConnectorsDocument(document, "import", this.options).document;
    await this.#read(false);
    const replaced = this.#known.size;
    const deleted = [...this.#known.keys()];
    const [status, version] = await this.#write(options.replace ? "replace" : "import", parsed, [], deleted);
    if (status === -1)
      throw new ConnectorError(
        "store-not-empty",
        `import refused: ${this.location} already holds connectors; use --replace to replace all of them`,
      );
    this.#remember(version, parsed);
    return { replaced: options.replace ? replaced : 0, imported: parsed.connectors.length };
  }

  /**
   * Calls `onChange` whenever any process changes the connectors, and after every reconnect of the subscription
   * (messages published while it was down are lost, so the whole state must be read again). Returns a function that
   * stops following.
   */
  watch(onChange: () => void): () => void {
    const subscriber = this.connection.subscriber;
    const channel = this.keys.changes;
    const onMessage = (from: string) => {
      if (from === channel) onChange();
    };
    // Subscribe, then read: a change published between the last read and the subscription is not missed.
    const subscribe = () =>
      subscriber.subscribe(channel).then(
        () => onChange(),
        () => {}, // lost again before the subscription: the next "ready" subscribes again
      );
    subscriber.on("message", onMessage);
    subscriber.on("ready", subscribe);
    if (subscriber.status === "ready") void subscribe();
    return () => {
      subscriber.off("message", onMessage);
      subscriber.off("ready", subscribe);
      if (subscriber.status === "ready") subscriber.unsubscribe(channel).catch(() => {});
    };
  }

  async #write(
    mode: "save" | "import" | "replace",
    document: ConnectorsFile,
    changed: readonly string[],
    deleted: readonly string[],
  ): Promise<[number, string]> {
    const sealed = JSON.stringify(this.#seal(document));
    const result = (await this.#call("write", () =>
      this.connection.commands.eval(
        SAVE_SCRIPT,
        1,
        this.keys.state,
        mode,
        this.#version,
        sealed,
        String(document.connectors.length),
        this.keys.changes,
        this.keys.base,
        String(changed.length),
        ...changed,
        ...deleted,
      ),
    )) as [number, string];
    return [Number(result[0]), String(result[1])];
  }

  #changes(document: ConnectorsFile): { changed: string[]; deleted: string[] } {
    const next = new Set(document.connectors.map((connector) => connector.id));
    const changed = document.connectors
      .filter((connector) => {
        const before = this.#known.get(connector.id);
        return before !== undefined && before !== JSON.stringify(connector);
      })
      .map((connector) => connector.id);
    const deleted = [...this.#known.keys()].filter((id) => !next.has(id));
    return { changed, deleted };
  }

  #remember(version: string, document: ConnectorsFile): void {
    this.#version = version;
    this.#known = new Map(document.connectors.map((connector) => [connector.id, JSON.stringify(connector)]));
  }

  #parse(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw new ConnectorError("connectors-store", `${this.location}: the stored document is not JSON`);
    }
  }

  /** A copy with every plain-text secret replaced by `{ "sealed": ... }` (references to env/files stay as they are). */
  #seal(document: ConnectorsFile): unknown {
    const copy = structuredClone(document) as { connectors: Record<string, unknown>[] };
    for (const connector of copy.connectors) {
      for (const path of secretFieldPaths(String(connector.type))) {
        const value = valueAt(connector, path);
        if (typeof value === "string")
          setValueAt(connector, path, { sealed: this.sealer.seal(value, this.#place(connector, path)) });
      }
    }
    return copy;
  }

  #unseal(raw: unknown): unknown {
    const connectors = (raw as { connectors?: unknown }).connectors;
    if (!Array.isArray(connectors)) return raw;
    for (const connector of connectors as Record<string, unknown>[]) {
      for (const path of secretFieldPaths(String(connector.type))) {
        const value = valueAt(connector, path) as { sealed?: unknown } | undefined;
        if (typeof value === "object" && value !== null && typeof value.sealed === "string")
          setValueAt(connector, path, this.sealer.open(value.sealed, this.#place(connector, path)));
      }
    }
    return raw;
  }

  #place(connector: Record<string, unknown>, path: readonly string[]): string {
    return `${this.keys.state}/${String(connector.id)}/${path.join(".")}`;
  }

  async #call<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new ConnectorError(
        "connectors-store",
        `cannot ${what} the connectors in ${this.location}: ${describeError(error)}`,
        { cause: error },
      );
    }
  }
}
