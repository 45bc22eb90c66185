import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import { describeError, type Problem } from "../core/errors.js";
import { zodProblems } from "../core/schema-problems.js";
import { ConnectorCatalog, type ConnectorChange, type ConnectorChangeKind, deepFreeze } from "./catalog.js";
import { type ConnectivityResult, type ConnectivityValidator, unavailable } from "./connectivity.js";
import { ConnectorError, ConnectorValidationError } from "./errors.js";
import type { ConnectorStore, LoadedConnectors } from "./file-store.js";
import { applyMergePatch, isPlainObject } from "./merge-patch.js";
import { type AdminRole, assertMayPerform, type ConnectorOperation } from "./roles.js";
import {
  CONNECTOR_LIMITS,
  documentRuleProblems,
  findConnector,
  nameKey,
  parseConnectorsDocument,
} from "./rules.js";
import { type CcaiConfig, type Connector, type ConnectorsFile, connectorSchema } from "./schema.js";
import { connectorType } from "./types/index.js";
import { connectorUrlProblems, type UrlRuleOptions } from "./url-rules.js";

/** How long a follower waits before reading a broken state a second time (an in-place save may be half done). */
const SETTLE_MS = 50;

export {
  ConnectorCatalog,
  type ConnectorChange,
  type ConnectorChangeKind,
  type ConnectorChangeListener,
} from "./catalog.js";

export interface ConnectorRegistryOptions extends UrlRuleOptions {
  /** The acting admin role for operations that do not name their own. Without one, every admin operation is refused. */
  readonly role?: AdminRole;
  /** Connectivity check run on reactivation and, when asked for (`validate: true`), on create and edit. */
  readonly validate?: ConnectivityValidator;
  /** Where changes are saved; without a store the registry lives in memory only. */
  readonly store?: ConnectorStore;
  readonly generateId?: () => string;
  /**
   * Follow changes other processes make to the store (when it can `watch`), applied as this registry's own.
   * Default true; only `ConnectorRegistry.open` follows.
   */
  readonly follow?: boolean;
  /** Told when the stored state cannot be loaded while following (and when it is valid again). */
  readonly onWarning?: (message: string) => void;
}

export interface OperationOptions {
  /** Overrides the registry's role for this operation. */
  readonly role?: AdminRole;
  /** Check connectivity before saving (create, edit); a failure refuses the save. */
  readonly validate?: boolean;
  /** Receives the connectivity result, including "not available" notes, whenever a check ran. */
  readonly onConnectivity?: (result: ConnectivityResult) => void;
}

/**
 * The organisation's connectors with their admin lifecycle (create, edit, deactivate, reactivate, delete) and every
 * rule those are checked against, on top of the catalog's run-time lookups. Each change is checked, saved to the
 * store, then made visible and announced to `change` listeners, so a running engine sees a deactivation at once and a refused or
 * failed save changes nothing.
 */
export class ConnectorRegistry extends ConnectorCatalog {
  private readonly options: ConnectorRegistryOptions;
  /** Operations run one at a time so that checks and the save see the same state. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopFollowing: (() => void) | undefined;
  /** A refresh waiting in the queue: further requests join it instead of queueing more re-reads. */
  private queuedRefresh: Promise<readonly ConnectorChange[]> | undefined;
  private runningRefresh: Promise<unknown> | undefined;
  /** The load failure last warned about, so a broken store warns once, not at every change notice. */
  private invalidState: string | undefined;

  /** A registry over `document` (checked here: it comes from the host, not from a store). */
  constructor(document: ConnectorsFile = { connectors: [] }, options: ConnectorRegistryOptions = {}) {
    const { document: checked, warnings } = parseConnectorsDocument(document, "connectors", options);
    super(checked, warnings);
    this.options = options;
  }

  /**
   * Loads the registry from its store (a file's problems are reported with file:line:col or JSON paths) and, unless
   * `follow: false`, follows the changes other processes make to it until `close()`.
   */
  static async open(
    store: ConnectorStore,
    options: Omit<ConnectorRegistryOptions, "store"> = {},
  ): Promise<ConnectorRegistry> {
    const loaded = await store.load();
    const registry = new ConnectorRegistry(undefined, { ...options, store });
    registry.adopt(loaded);
    if (options.follow !== false && store.watch) {
      registry.stopFollowing = store.watch(() => void registry.refresh());
      // A change written between the load and the start of watching would otherwise wait for the next one.
      await registry.refresh();
    }
    return registry;
  }

  /**
   * Re-reads the whole state from the store and applies every difference exactly as this registry's own changes
   * (`change` events: the engine drops tokens and halts). Resolves to the changes applied. A state that cannot be
   * loaded or breaks a rule changes nothing: the last good state stays in force, `onWarning` is told once.
   */
  refresh(): Promise<readonly ConnectorChange[]> {
    if (this.queuedRefresh) return this.queuedRefresh;
    const refresh = this.serialize(async () => {
      this.queuedRefresh = undefined;
      this.runningRefresh = refresh;
      try {
        return await this.reload("keep-last-good");
      } finally {
        this.runningRefresh = undefined;
      }
    });
    this.queuedRefresh = refresh;
    return refresh;
  }

  /** Stops following the store and waits for a re-read in progress. The store itself stays open. */
  async close(): Promise<void> {
    this.stopFollowing?.();
    this.stopFollowing = undefined;
    await this.runningRefresh?.catch(() => undefined);
  }

  // ---- admin operations ----

  list(options: OperationOptions = {}): readonly Readonly<Connector>[] {
    this.authorize("list", options);
    return this.connectors;
  }

  show(nameOrId: string, options: OperationOptions = {}): Readonly<Connector> {
    this.authorize("show", options);
    return this.require(nameOrId, "show");
  }

  create(input: unknown, options: OperationOptions = {}): Promise<Readonly<Connector>> {
    return this.mutate(
      () => this.authorize("create", options),
      async () => {
        if (!isPlainObject(input))
          throw new ConnectorValidationError(
            [problem("$", "a connector must be a JSON object")],
            "create refused",
          );
        if (input.id !== undefined)
          throw new ConnectorError(
            "immutable-field",
            "create refused by the immutable id rule: the id is generated on creation and cannot be given",
          );
        if (input.status !== undefined && input.status !== "active")
          throw new ConnectorValidationError(
            [problem("$.status", "a connector is created active; deactivate it afterwards")],
            "create refused",
          );
        const generateId = this.options.generateId ?? randomUUID;
        const connector = this.parse({ ...input, id: generateId(), status: "active" }, "create refused");
        this.assertWithinLimit(connector);
        this.assertNameFree(connector.name, undefined, "create");
        this.assertSecureUrls(connector, "create");
        if (options.validate) await this.checkConnectivityOf(connector, "create", options);
        await this.commit([...this.connectors, connector], this.ccai, { kind: "created", connector });
        return connector;
      },
    );
  }

  /**
   * Changes an inactive connector's settings. `changes` is a JSON merge patch (RFC 7396: `null` removes a field);
   * `id`, `type` and `status` cannot change here.
   */
  edit(nameOrId: string, changes: unknown, options: OperationOptions = {}): Promise<Readonly<Connector>> {
    return this.mutate(
      () => this.authorize("edit", options),
      async () => {
        const current = this.require(nameOrId, "edit");
        if (current.status !== "inactive")
          throw new ConnectorError(
            "edit-while-active",
            `edit of "${current.name}" refused: a connector can be edited only while inactive (deactivate it first)`,
          );
        if (!isPlainObject(changes))
          throw new ConnectorValidationError([problem("$", "changes must be a JSON object")], "edit refused");
        for (const field of ["id", "type"] as const) {
          if (field in changes && changes[field] !== current[field])
            throw new ConnectorError(
              "immutable-field",
              `edit of "${current.name}" refused by the immutable ${field} rule: ${field} can never change`,
            );
        }
        if ("status" in changes && changes.status !== current.status)
          throw new ConnectorError(
            "immutable-field",
            `edit of "${current.name}" refused: status changes only through deactivate and reactivate`,
          );
        const next = this.parse(applyMergePatch(current, changes), `edit of "${current.name}" refused`);
        this.assertNameFree(next.name, current.id, "edit");
        this.assertSecureUrls(next, "edit");
        if (options.validate) await this.checkConnectivityOf(next, "edit", options);
        const ccai =
          nameKey(next.name) === nameKey(current.name)
            ? this.ccai
            : this.ccai?.map((config) =>
                nameKey(config.connector) === nameKey(current.name)
                  ? { ...config, connector: next.name }
                  : config,
              );
        await this.commit(this.replace(next), ccai, { kind: "edited", connector: next });
        return next;
      },
    );
  }

  /** Deactivates a connector: its settings stay, and flows that use it halt at once. */
  deactivate(nameOrId: string, options: OperationOptions = {}): Promise<Readonly<Connector>> {
    return this.mutate(
      () => this.authorize("deactivate", options),
      async () => {
        const current = this.require(nameOrId, "deactivate");
        if (current.status === "inactive") return current;
        const next = deepFreeze({ ...current, status: "inactive" as const });
        await this.commit(this.replace(next), this.ccai, { kind: "deactivated", connector: next });
        return next;
      },
    );
  }

  /** Reactivates a connector after checking it again (rules and connectivity); a failure leaves it inactive. */
  reactivate(nameOrId: string, options: OperationOptions = {}): Promise<Readonly<Connector>> {
    return this.mutate(
      () => this.authorize("reactivate", options),
      async () => {
        const current = this.require(nameOrId, "reactivate");
        if (current.status === "active") return current;
        const next = this.parse({ ...current, status: "active" }, `reactivate of "${current.name}" refused`);
        this.assertNameFree(next.name, next.id, "reactivate");
        this.assertSecureUrls(next, "reactivate");
        await this.checkConnectivityOf(next, "reactivate", options);
        await this.commit(this.replace(next), this.ccai, { kind: "reactivated", connector: next });
        return next;
      },
    );
  }

  delete(nameOrId: string, options: OperationOptions = {}): Promise<Readonly<Connector>> {
    return this.mutate(
      () => this.authorize("delete", options),
      async () => {
        const current = this.require(nameOrId, "delete");
        if (current.status !== "inactive")
          throw new ConnectorError(
            "delete-while-active",
            `delete of "${current.name}" refused: only an inactive connector can be deleted (deactivate it first)`,
          );
        const users = (this.ccai ?? []).filter(
          (config) => findConnector([current], config.connector) !== undefined,
        );
        if (connectorType(current).servesCcaiConfigs && users.length > 0)
          throw new ConnectorError(
            "ccai-in-use",
            `delete of "${current.name}" refused: CCAI configuration ${users.map((c) => `"${c.name}"`).join(", ")} ` +
              "uses it (a google-ccai connector cannot be deleted while a CCAI configuration refers to it)",
          );
        await this.commit(
          this.connectors.filter((connector) => connector.id !== current.id),
          this.ccai,
          { kind: "deleted", connector: current },
        );
        return current;
      },
    );
  }

  /**
   * Stores a refresh token the token endpoint rotated (RFC 6749 section 6), so that the next process uses it.
   * Not an admin edit: no role, allowed while active. Only a refresh token stored in the file itself can be
   * rewritten; one that comes from `{ env }` or `{ file }` is left alone and false is returned. `generation`: the
   * count of rotations from the configured token; a store holding this generation or a newer one is left alone.
   */
  rotateRefreshToken(id: string, refreshToken: string, generation: number): Promise<boolean> {
    // No role: the engine stores what the token endpoint rotated.
    return this.mutate(
      () => undefined,
      async () => {
        const current = this.connectors.find((connector) => connector.id === id);
        if (!current || !("refreshToken" in current) || typeof current.refreshToken !== "string")
          return false;
        if (current.refreshToken === refreshToken) return true;
        // Compare-and-set on the generation: a newer refresh token (another process's) is never replaced by an
        // older one. The caller has nothing to keep: the store holds a token at least as new as its own.
        const stored = current.refreshTokenGeneration ?? 0;
        if (generation <= stored) return true;
        const next = deepFreeze({
          ...structuredClone(current),
          refreshToken,
          refreshTokenGeneration: generation,
        } as Connector);
        await this.commit(this.replace(next), this.ccai, { kind: "refresh-token-rotated", connector: next });
        return true;
      },
    );
  }

  /** Runs the connectivity check on a stored connector without changing anything (read access suffices). */
  async checkConnectivity(nameOrId: string, options: OperationOptions = {}): Promise<ConnectivityResult> {
    this.authorize("show", options);
    const connector = this.require(nameOrId, "validate");
    const result = this.options.validate ? await this.options.validate(connector) : unavailable(connector);
    options.onConnectivity?.(result);
    return result;
  }

  /** Every rule problem of the current state (for `connectors validate`). */
  problems(): Problem[] {
    return documentRuleProblems(this.toDocument());
  }

  // ---- internals ----

  private authorize(operation: ConnectorOperation, options: OperationOptions): void {
    assertMayPerform(options.role ?? this.options.role, operation);
  }

  private require(nameOrId: string, operation: string): Connector {
    const connector = findConnector(this.connectors, nameOrId);
    if (!connector)
      throw new ConnectorError(
        "not-found",
        `${operation} refused: no connector named or with id "${nameOrId}"`,
      );
    return connector;
  }

  private parse(raw: unknown, context: string): Connector {
    const parsed = connectorSchema.safeParse(raw);
    if (!parsed.success) throw new ConnectorValidationError(zodProblems(parsed.error), context);
    return deepFreeze(parsed.data);
  }

  private assertWithinLimit(connector: Connector): void {
    const limit = CONNECTOR_LIMITS[connector.type];
    if (limit === undefined) return;
    const count = this.connectors.filter((existing) => existing.type === connector.type).length;
    if (count >= limit)
      throw new ConnectorError(
        "connector-limit",
        `create refused by the limit rule: an organisation can have at most ${limit} ${connector.type} connector${limit === 1 ? "" : "s"} (it has ${count})`,
      );
  }

  private assertNameFree(name: string, ownId: string | undefined, operation: string): void {
    const key = nameKey(name);
    const other = this.connectors.find(
      (connector) => connector.id !== ownId && nameKey(connector.name) === key,
    );
    if (other)
      throw new ConnectorError(
        "name-taken",
        `${operation} refused by the unique name rule: "${name}" is already used by connector "${other.name}" (names are case-insensitive)`,
      );
  }

  private assertSecureUrls(connector: Connector, operation: string): void {
    const problems = connectorUrlProblems(connector);
    if (problems.length > 0)
      throw new ConnectorError(
        "insecure-url",
        `${operation} of "${connector.name}" refused by the https rule: ${problems.map((p) => p.message).join("; ")}`,
      );
  }

  private async checkConnectivityOf(
    connector: Connector,
    operation: string,
    options: OperationOptions,
  ): Promise<void> {
    const result = this.options.validate ? await this.options.validate(connector) : unavailable(connector);
    options.onConnectivity?.(result);
    if (result.status === "failed")
      throw new ConnectorError(
        "connectivity-failed",
        `${operation} of "${connector.name}" refused: connectivity validation failed: ${result.message}`,
      );
  }

  private replace(next: Connector): Connector[] {
    return this.connectors.map((connector) => (connector.id === next.id ? next : connector));
  }

  private async commit(
    connectors: readonly Connector[],
    ccai: readonly CcaiConfig[] | undefined,
    change: ConnectorChange,
  ): Promise<void> {
    if (this.options.store) {
      const document: ConnectorsFile = { connectors: structuredClone([...connectors]) as Connector[] };
      if (this.schemaUrl !== undefined) document.$schema = this.schemaUrl;
      if (ccai !== undefined) document.ccaiConfigs = structuredClone([...ccai]) as CcaiConfig[];
      await this.options.store.save(document);
    }
    this.apply(connectors, ccai, [change]);
  }

  /**
   * Loads the store's state and applies how it differs from ours. `keep-last-good` (following) turns a failure
   * into one warning; `strict` (before an admin operation) throws it, because acting on a state we could not
   * read would be refused by the save anyway.
   */
  private async reload(mode: "keep-last-good" | "strict"): Promise<readonly ConnectorChange[]> {
    const store = this.options.store;
    if (!store) return [];
    // The store checks what it loads (the ConnectorStore contract): no second validation here.
    const loadChecked = () => store.load();
    let checked: LoadedConnectors;
    try {
      checked = await loadChecked();
    } catch (error) {
      if (mode === "strict") throw error;
      try {
        // An editor saving in place is caught half-written now and then: look again before warning.
        await sleep(SETTLE_MS, undefined, { ref: false });
        checked = await loadChecked();
      } catch (again) {
        this.warnInvalidState(again);
        return [];
      }
    }
    const next = checked.document;
    this.loadWarnings = checked.warnings;
    if (this.invalidState !== undefined) {
      this.invalidState = undefined;
      this.warn("the stored connectors are valid again; their current state is in force");
    }
    const { connectors, changes } = diffConnectors(this.connectors, next.connectors);
    this.schemaUrl = next.$schema;
    this.apply(
      connectors,
      isDeepStrictEqual(next.ccaiConfigs, this.ccai) ? this.ccai : next.ccaiConfigs?.map(deepFreeze),
      changes,
    );
    return changes;
  }

  private warnInvalidState(error: unknown): void {
    const problem = describeError(error);
    if (problem === this.invalidState) return;
    this.invalidState = problem;
    this.warn(
      `the stored connectors cannot be loaded; the last valid state stays in force and routing goes on: ${problem}`,
    );
  }

  private warn(message: string): void {
    if (this.options.onWarning) this.options.onWarning(message);
    else process.emitWarning(message);
  }

  /**
   * An admin operation: under the store's write lock (when it has one) the state is re-read first, so that the
   * rules are checked against what other processes saved and their changes are never overwritten.
   */
  private mutate<T>(authorize: () => void, operation: () => Promise<T>): Promise<T> {
    return this.serialize(async () => {
      authorize(); // before waiting for the lock: a role that may not write needs no lock to be told so
      const release = await this.options.store?.lock?.();
      if (!release) return operation();
      try {
        await this.reload("strict");
        return await operation();
      } finally {
        await release();
      }
    });
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation, operation);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * How `next` differs from `current`, as the change events this registry would have announced had it made the
 * changes itself; unchanged connectors keep their objects (handles and tokens built on them stay valid). Several
 * changes to one connector between two reads become one event: a status change wins, since it decides routing.
 */
export function diffConnectors(
  current: readonly Connector[],
  next: readonly Connector[],
): { connectors: Connector[]; changes: ConnectorChange[] } {
  const before = new Map(current.map((connector) => [connector.id, connector]));
  const changes: ConnectorChange[] = [];
  const connectors = next.map((raw) => {
    const old = before.get(raw.id);
    before.delete(raw.id);
    if (old && isDeepStrictEqual(old, raw)) return old;
    const connector = deepFreeze(raw);
    changes.push({ kind: changeKind(old, connector), connector });
    return connector;
  });
  for (const removed of before.values()) changes.push({ kind: "deleted", connector: removed });
  return { connectors, changes };
}

function changeKind(old: Connector | undefined, next: Connector): ConnectorChangeKind {
  if (!old) return "created";
  if (old.status !== next.status) return next.status === "inactive" ? "deactivated" : "reactivated";
  const rotatedOnly =
    next.status === "active" &&
    "refreshToken" in old &&
    "refreshToken" in next &&
    typeof old.refreshToken === "string" &&
    typeof next.refreshToken === "string" &&
    // A rotation changes the token and its generation; anything else is an admin's edit.
    isDeepStrictEqual(
      { ...old, refreshToken: "", refreshTokenGeneration: 0 },
      { ...next, refreshToken: "", refreshTokenGeneration: 0 },
    );
  return rotatedOnly ? "refresh-token-rotated" : "edited";
}

function problem(path: string, message: string): Problem {
  return { path, message, severity: "error" };
}
