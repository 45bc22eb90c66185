import { createHash, randomBytes } from "node:crypto";
import { watch as watchDirectory } from "node:fs";
import { chmod, open, readFile, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import type { Problem } from "../core/errors.js";
import { parseJsonText } from "../core/json-source.js";
import { ConnectorError } from "./errors.js";
import { acquireFileLock, type FileLockOptions, type ReleaseLock } from "./file-lock.js";
import { parseConnectorsDocument } from "./rules.js";
import type { ConnectorsFile } from "./schema.js";
import type { UrlRuleOptions } from "./url-rules.js";

/** Where a registry loads its connectors from and saves them to. */
/**
 * Where a registry's connectors are kept. A store checks what it loads (`parseConnectorsDocument`: schema and
 * document rules, problems named by the store's location); the registry takes a loaded document as checked and
 * validates only its own changes and documents a host hands it directly.
 */
export interface ConnectorStore {
  load(): Promise<LoadedConnectors>;
  /** Refuses with ConnectorError `concurrent-change` when the stored state changed since the last `load()`. */
  save(document: ConnectorsFile): Promise<void>;
  /**
   * Calls `onChange` whenever the stored state may have changed from outside (another process wrote it), so that
   * a registry re-reads it; spurious and repeated calls are allowed. Returns a function that stops watching.
   * Must not keep the process alive.
   */
  watch?(onChange: () => void): () => void;
  /**
   * Takes an exclusive write lock for a registry's read-modify-write and resolves to its release. Without it, a
   * registry relies on `save()`'s concurrent-change check alone.
   */
  lock?(): Promise<ReleaseLock>;
}

export interface LoadedConnectors {
  /** Checked by the store that loaded it. */
  readonly document: ConnectorsFile;
  /** Non-fatal problems, such as secrets stored as plain text. */
  readonly warnings: readonly Problem[];
  /** The directory `{ file }` secrets are relative to. */
  readonly baseDir: string;
}

export interface FileStoreOptions extends UrlRuleOptions {
  /** A missing file loads as an empty document (so `add` can create it) instead of failing. */
  readonly createIfMissing?: boolean;
  /** Replaceable for tests that simulate a crash between writing the temp file and renaming it. */
  readonly rename?: (from: string, to: string) => Promise<void>;
  /** The write lock beside the file (`FILE.lock`): how long to wait for it, when to take over a stale one. */
  readonly lock?: FileLockOptions;
  /** How often `watch` checks the file's identity (device, inode, size, times). Default 250 ms. */
  readonly pollMs?: number;
  /** Use fs.watch as well as the poll (default true); false where fs.watch misbehaves, the poll alone suffices. */
  readonly fsWatch?: boolean;
}

/** What the file looked like when it was read: compared before every write to detect someone else's change. */
type Snapshot = { kind: "absent" } | { kind: "present"; hash: string };

const FILE_MODE = 0o600;
const DEFAULT_POLL_MS = 250;
/** Every this many polls the content is hashed too (an in-place write of the same size within one mtime tick). */
const HASH_EVERY_POLLS = 16;
/** fs.watch reports each step of one save; a short settle turns them into one re-read. */
const WATCH_SETTLE_MS = 15;

/**
 * The connectors file. Writes are atomic (temp file in the same directory, fsync, rename, fsync of the directory),
 * keep mode 0600 because the file may hold plain secrets, and are refused when the file changed since it was read,
 * so that two administrators never silently overwrite each other.
 */
export class ConnectorFileStore implements ConnectorStore {
  readonly file: string;
  private readonly options: FileStoreOptions;
  private snapshot: Snapshot | undefined;
  private locksHeld = 0;

  constructor(file: string, options: FileStoreOptions = {}) {
    this.file = path.resolve(file);
    this.options = options;
  }

  async load(): Promise<LoadedConnectors> {
    const baseDir = path.dirname(this.file);
    const text = await this.readCurrent();
    if (text === undefined) {
      if (!this.options.createIfMissing)
        throw new ConnectorError("connectors-file", `${this.file}: cannot read (no such file)`);
      this.snapshot = { kind: "absent" };
      return { document: { connectors: [] }, warnings: [], baseDir };
    }
    const { document, warnings } = parseConnectorsDocument(
      parseJsonText(text, this.file),
      this.file,
      this.options,
    );
    this.snapshot = { kind: "present", hash: hashText(text) };
    return { document, warnings, baseDir };
  }

  async save(document: ConnectorsFile): Promise<void> {
    const snapshot = this.snapshot;
    if (!snapshot)
      throw new ConnectorError("connectors-file", `${this.file}: load the file before saving it`);
    // The check and the rename must not interleave with another writer's: a caller that did not take the lock
    // for its whole read-modify-write gets it for this part at least.
    const release = this.locksHeld > 0 ? undefined : await this.lock();
    try {
      await this.assertUnchanged(snapshot);
      const text = `${JSON.stringify(document, null, 2)}\n`;
      await this.writeAtomically(text);
      this.snapshot = { kind: "present", hash: hashText(text) };
    } finally {
      await release?.();
    }
  }

  /** The write lock (`FILE.lock` beside the file) for a read-modify-write; `save()` inside it does not re-lock. */
  async lock(): Promise<ReleaseLock> {
    const release = await acquireFileLock(this.file, this.options.lock);
    this.locksHeld++;
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      this.locksHeld--;
      await release();
    };
  }

  /**
   * Follows the file: fs.watch on its directory (a rename replaces the file's inode, which a watch on the file
   * itself would lose), backed by a poll of the file's identity and, now and then, its content hash, because
   * fs.watch misses events on network and container filesystems. Neither the watcher nor the timer keeps the
   * process alive.
   */
  watch(onChange: () => void): () => void {
    let stopped = false;
    let settle: NodeJS.Timeout | undefined;
    const notify = () => {
      if (!stopped) onChange();
    };
    const soon = () => {
      if (settle || stopped) return;
      settle = setTimeout(() => {
        settle = undefined;
        notify();
      }, WATCH_SETTLE_MS);
      settle.unref();
    };
    const watcher = this.options.fsWatch === false ? undefined : this.watchDirectory(soon);
    const poller = this.pollIdentity(notify);
    return () => {
      stopped = true;
      clearTimeout(settle);
      watcher?.close();
      poller.stop();
    };
  }

  private watchDirectory(onEvent: () => void): { close(): void } | undefined {
    const base = path.basename(this.file);
    try {
      const watcher = watchDirectory(path.dirname(this.file), { persistent: false }, (_event, name) => {
        if (name === null || name.toString() === base) onEvent();
      });
      // A watcher that fails (directory removed, too many watches) leaves the poll in charge.
      watcher.on("error", () => watcher.close());
      return watcher;
    } catch {
      return undefined;
    }
  }

  private pollIdentity(onChange: () => void): { stop(): void } {
    let identity: string | undefined;
    let hash = this.snapshot?.kind === "present" ? this.snapshot.hash : undefined;
    let polls = 0;
    let busy = false;
    const poll = async () => {
      if (busy) return;
      busy = true;
      try {
        const current = await this.identity();
        const changed = identity !== undefined && current !== identity;
        identity = current;
        if (polls++ % HASH_EVERY_POLLS === 0 || changed) {
          const text = await this.readCurrent().catch(() => undefined);
          const currentHash = text === undefined ? undefined : hashText(text);
          if (changed || currentHash !== hash) onChange();
          hash = currentHash;
        }
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(
      () => void poll().catch(() => undefined),
      this.options.pollMs ?? DEFAULT_POLL_MS,
    );
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  private async identity(): Promise<string> {
    try {
      const info = await stat(this.file, { bigint: true });
      return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch (error) {
      return `missing:${(error as NodeJS.ErrnoException).code ?? "?"}`;
    }
  }

  private async assertUnchanged(snapshot: Snapshot): Promise<void> {
    const current = await this.readCurrent();
    const unchanged =
      snapshot.kind === "absent"
        ? current === undefined
        : current !== undefined && hashText(current) === snapshot.hash;
    if (!unchanged)
      throw new ConnectorError(
        "concurrent-change",
        `${this.file} changed since it was read (someone else saved it); nothing was written, so their change is kept. ` +
          "Run the command again to apply yours on top of it.",
      );
  }

  private async readCurrent(): Promise<string | undefined> {
    try {
      return await readFile(this.file, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      throw new ConnectorError("connectors-file", `${this.file}: cannot read (${code ?? "unreadable"})`, {
        cause: error,
      });
    }
  }

  private async writeAtomically(text: string): Promise<void> {
    const directory = path.dirname(this.file);
    const temp = path.join(
      directory,
      `.${path.basename(this.file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
    );
    const doRename = this.options.rename ?? rename;
    let renamed = false;
    try {
      const handle = await open(temp, "wx", FILE_MODE);
      try {
        await handle.writeFile(text, "utf8");
        // The umask may have narrowed the mode but never widens it; chmod makes it exactly 0600.
        await handle.chmod(FILE_MODE);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await doRename(temp, this.file);
      renamed = true;
      await chmod(this.file, FILE_MODE);
      await syncDirectory(directory);
    } catch (error) {
      if (!renamed) await unlink(temp).catch(() => undefined);
      if (error instanceof ConnectorError) throw error;
      const code =
        (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
      throw new ConnectorError(
        "connectors-file",
        `${this.file}: cannot write (${code})${renamed ? "" : "; the previous file is unchanged"}`,
        { cause: error },
      );
    }
  }
}

/** Makes the rename durable; some platforms cannot fsync a directory, where the rename is the best we can do. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(directory, "r");
    await handle.sync();
  } catch {
    // EISDIR/EPERM/EINVAL on platforms without directory fsync.
  } finally {
    await handle?.close();
  }
}

function hashText(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A store that keeps the document in memory (embedding hosts with their own storage, and tests). */
export class MemoryConnectorStore implements ConnectorStore {
  private document: ConnectorsFile;
  private warnings: readonly Problem[];
  /** Checks `document` like every store checks what it holds (the URL rules of `options`). */
  constructor(
    document: ConnectorsFile = { connectors: [] },
    private readonly baseDir = process.cwd(),
    options: UrlRuleOptions = {},
  ) {
    const checked = parseConnectorsDocument(document, "connectors (in memory)", options);
    this.document = structuredClone(checked.document);
    this.warnings = checked.warnings;
  }
  /** A store holding what another store loaded (already checked there): replay's per-case copy of a file. */
  static fromLoaded(loaded: LoadedConnectors): MemoryConnectorStore {
    const store = new MemoryConnectorStore(undefined, loaded.baseDir);
    store.document = structuredClone(loaded.document);
    store.warnings = loaded.warnings;
    return store;
  }
  async load(): Promise<LoadedConnectors> {
    return { document: structuredClone(this.document), warnings: this.warnings, baseDir: this.baseDir };
  }
  /** What a registry saves it checked itself. */
  async save(document: ConnectorsFile): Promise<void> {
    this.document = structuredClone(document);
    this.warnings = [];
  }
  current(): ConnectorsFile {
    return structuredClone(this.document);
  }
}
