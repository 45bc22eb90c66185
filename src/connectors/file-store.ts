import { createHash, randomBytes } from "node:crypto";
import { chmod, open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import type { Problem } from "../core/errors.js";
import { parseJsonText } from "../core/json-source.js";
import { ConnectorError } from "./errors.js";
import { parseConnectorsDocument } from "./rules.js";
import type { ConnectorsFile } from "./schema.js";
import type { UrlRuleOptions } from "./url-rules.js";

/** Where a registry loads its connectors from and saves them to. */
export interface ConnectorStore {
  load(): Promise<LoadedConnectors>;
  save(document: ConnectorsFile): Promise<void>;
}

export interface LoadedConnectors {
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
}

/** What the file looked like when it was read: compared before every write to detect someone else's change. */
type Snapshot = { kind: "absent" } | { kind: "present"; hash: string };

const FILE_MODE = 0o600;

/**
 * The connectors file. Writes are atomic (temp file in the same directory, fsync, rename, fsync of the directory),
 * keep mode 0600 because the file may hold plain secrets, and are refused when the file changed since it was read,
 * so that two administrators never silently overwrite each other.
 */
export class ConnectorFileStore implements ConnectorStore {
  readonly file: string;
  private readonly options: FileStoreOptions;
  private snapshot: Snapshot | undefined;

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
    if (!this.snapshot)
      throw new ConnectorError("connectors-file", `${this.file}: load the file before saving it`);
    await this.assertUnchanged(this.snapshot);
    const text = `${JSON.stringify(document, null, 2)}\n`;
    await this.writeAtomically(text);
    this.snapshot = { kind: "present", hash: hashText(text) };
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
  constructor(
    document: ConnectorsFile = { connectors: [] },
    private readonly baseDir = process.cwd(),
  ) {
    this.document = structuredClone(document);
  }
  async load(): Promise<LoadedConnectors> {
    return { document: structuredClone(this.document), warnings: [], baseDir: this.baseDir };
  }
  async save(document: ConnectorsFile): Promise<void> {
    this.document = structuredClone(document);
  }
  current(): ConnectorsFile {
    return structuredClone(this.document);
  }
}
