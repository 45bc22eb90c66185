import type { Problem } from "../core/errors.js";
import type { LoadedConnectors } from "./file-store.js";
import { findConnector } from "./rules.js";
import type { CcaiConfig, Connector, ConnectorsFile } from "./schema.js";

export type ConnectorChangeKind =
  | "created"
  | "edited"
  | "deactivated"
  | "reactivated"
  | "deleted"
  /** The token endpoint rotated the stored refresh token; not an admin edit, tokens stay valid. */
  | "refresh-token-rotated";

export interface ConnectorChange {
  readonly kind: ConnectorChangeKind;
  /** The connector after the change (for `deleted`: as it was when deleted). */
  readonly connector: Readonly<Connector>;
}

export type ConnectorChangeListener = (change: ConnectorChange) => void;

/**
 * The organisation's connectors as the engine reads them at run time: lookups by name or id, and change events.
 * It holds no admin operation; ConnectorRegistry adds those (and the rules they are checked against) on top.
 */
export class ConnectorCatalog {
  protected connectors: readonly Connector[];
  protected ccai: readonly CcaiConfig[] | undefined;
  protected schemaUrl: string | undefined;
  protected loadWarnings: readonly Problem[];
  private loadedFrom: string | undefined;
  private readonly listeners = new Set<ConnectorChangeListener>();

  /** A catalog of `document`, which the caller has checked (`parseConnectorsDocument` or a store's load). */
  constructor(document: ConnectorsFile, warnings: readonly Problem[] = []) {
    this.connectors = document.connectors.map(deepFreeze);
    this.ccai = document.ccaiConfigs?.map(deepFreeze);
    this.schemaUrl = document.$schema;
    this.loadWarnings = warnings;
  }

  /** Takes over what a store loaded: checked by the store (the ConnectorStore contract), so not checked again. */
  protected adopt(loaded: LoadedConnectors): void {
    this.connectors = loaded.document.connectors.map(deepFreeze);
    this.ccai = loaded.document.ccaiConfigs?.map(deepFreeze);
    this.schemaUrl = loaded.document.$schema;
    this.loadWarnings = loaded.warnings;
    this.loadedFrom = loaded.baseDir;
  }

  /** The folder `{ file }` secrets are relative to: the connectors file's, when the catalog was loaded from one. */
  get baseDir(): string | undefined {
    return this.loadedFrom;
  }

  /** Non-fatal problems of the state last loaded, such as secrets stored as plain text. */
  get warnings(): readonly Problem[] {
    return this.loadWarnings;
  }

  /** The connector with this exact id, or else this name (case-insensitive); undefined when unknown. */
  resolve(nameOrId: string): Readonly<Connector> | undefined {
    return findConnector(this.connectors, nameOrId);
  }

  /** Every connector's name, for "did you mean" when a flow names one that does not exist. */
  names(): string[] {
    return this.connectors.map((connector) => connector.name);
  }

  /** Listens for changes; returns a function that stops listening. */
  on(event: "change", listener: ConnectorChangeListener): () => void {
    if (event !== "change") throw new TypeError(`unknown event ${String(event)}`);
    this.listeners.add(listener);
    return () => this.off(event, listener);
  }

  off(event: "change", listener: ConnectorChangeListener): void {
    if (event === "change") this.listeners.delete(listener);
  }

  /** The document as it would be saved. */
  toDocument(): ConnectorsFile {
    const document: ConnectorsFile = { connectors: structuredClone([...this.connectors]) as Connector[] };
    if (this.schemaUrl !== undefined) document.$schema = this.schemaUrl;
    if (this.ccai !== undefined) document.ccaiConfigs = structuredClone([...this.ccai]) as CcaiConfig[];
    return document;
  }

  ccaiConfigs(): readonly CcaiConfig[] {
    return this.ccai ?? [];
  }

  /** The one way state changes, whether this process made the change or another one did. */
  protected apply(
    connectors: readonly Connector[],
    ccai: readonly CcaiConfig[] | undefined,
    changes: readonly ConnectorChange[],
  ): void {
    this.connectors = connectors;
    this.ccai = ccai;
    for (const change of changes) this.announce(change);
  }

  private announce(change: ConnectorChange): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (error) {
        // A faulty listener must not make a saved change look failed, nor stop the other listeners.
        process.emitWarning(
          `connector change listener failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
}

/** Connectors are shared by reference with every handle built on them: nobody may change one in place. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
