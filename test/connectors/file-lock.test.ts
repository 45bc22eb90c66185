import { spawnSync } from "node:child_process";
import { existsSync, readlinkSync } from "node:fs";
import { readdir, readFile, rename, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { acquireFileLock } from "../../src/connectors/file-lock.js";
import { ConnectorFileStore } from "../../src/connectors/file-store.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import { connectorInput, tempDir } from "./builders.js";

async function emptyFile() {
  const dir = await tempDir();
  const file = path.join(dir, "connectors.json");
  await writeFile(file, '{ "connectors": [] }\n');
  return { dir, file };
}

function adminOn(store: ConnectorFileStore) {
  return ConnectorRegistry.open(store, { role: "full-admin", follow: false });
}

/** A pid that is certainly not running: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", ""]).pid!;
}

describe("the connectors file's write lock", () => {
  it("serialises two read-modify-writes: the second waits, re-reads and keeps the first's change", async () => {
    const { file } = await emptyFile();
    // The first writer is slow between writing its temp file and renaming it over the file: without the lock,
    // the second would read the old file, pass the unchanged check and be overwritten (or overwrite).
    const slow = new ConnectorFileStore(file, {
      rename: async (from, to) => {
        await sleep(150);
        await rename(from, to);
      },
    });
    const first = await adminOn(slow);
    const second = await adminOn(new ConnectorFileStore(file));
    const results = await Promise.allSettled([
      first.create(connectorInput("custom", "First")),
      sleep(30).then(() => second.create(connectorInput("custom", "Second"))),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
    const saved = JSON.parse(await readFile(file, "utf8")) as { connectors: { name: string }[] };
    expect(saved.connectors.map((c) => c.name)).toEqual(["First", "Second"]);
    expect(await readdir(path.dirname(file))).toEqual(["connectors.json"]);
  });

  it("refuses after its timeout while a live process holds the lock, naming the holder; nothing is written", async () => {
    const { file } = await emptyFile();
    const owner = { pid: process.pid, host: hostname(), token: "t", acquiredAt: "2026-01-01T00:00:00.000Z" };
    await writeFile(`${file}.lock`, JSON.stringify(owner));
    const registry = await adminOn(new ConnectorFileStore(file, { lock: { timeoutMs: 150 } }));
    const error = await registry.create(connectorInput("custom", "CRM")).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "store-locked" });
    expect((error as Error).message).toContain(`being saved by process ${process.pid} on ${hostname()}`);
    expect((error as Error).message).toContain(`delete ${file}.lock`);
    expect(await readFile(file, "utf8")).toBe('{ "connectors": [] }\n');
    expect(registry.resolve("CRM")).toBeUndefined();
  });

  it("takes over at once a lock whose holder died on this host", async () => {
    const { file } = await emptyFile();
    const owner = { pid: deadPid(), host: hostname(), token: "t", acquiredAt: new Date().toISOString() };
    await writeFile(`${file}.lock`, JSON.stringify(owner));
    const registry = await adminOn(new ConnectorFileStore(file, { lock: { timeoutMs: 100 } }));
    await registry.create(connectorInput("custom", "CRM"));
    expect(await readdir(path.dirname(file))).toEqual(["connectors.json"]);
  });

  const onLinux = existsSync("/proc/self/ns/pid");
  const ourNamespace = onLinux ? readlinkSync("/proc/self/ns/pid") : "";

  it("takes over at once an empty or half-written lock older than a moment (its writer died while creating it)", async () => {
    for (const text of ["", '{"pid": 12'] as const) {
      const { file } = await emptyFile();
      await writeFile(`${file}.lock`, text);
      const store = new ConnectorFileStore(file, { lock: { timeoutMs: 100 } });
      const registry = await adminOn(store);
      // Just created: it may be being written right now, so it is respected for a moment.
      await expect(registry.create(connectorInput("custom", "Early"))).rejects.toMatchObject({
        code: "store-locked",
      });
      const old = new Date(Date.now() - 3000);
      await utimes(`${file}.lock`, old, old);
      await registry.create(connectorInput("custom", "CRM")); // well before the default staleMs of 10 s
      expect(await readdir(path.dirname(file))).toEqual(["connectors.json"]);
    }
  });

  it.skipIf(!onLinux)(
    "takes over at once a lock whose pid now belongs to another process (reused pid)",
    async () => {
      const { file } = await emptyFile();
      const owner = {
        pid: process.pid, // alive, but started long after the holder recorded below
        host: hostname(),
        token: "t",
        acquiredAt: new Date().toISOString(),
        pidNamespace: ourNamespace,
        startTime: "1",
      };
      await writeFile(`${file}.lock`, JSON.stringify(owner));
      const registry = await adminOn(new ConnectorFileStore(file, { lock: { timeoutMs: 100 } }));
      await registry.create(connectorInput("custom", "CRM"));
      expect(registry.resolve("CRM")?.status).toBe("active");
    },
  );

  it.skipIf(!onLinux)(
    "never judges a holder in another pid namespace by its pid (a container with the same host name)",
    async () => {
      const { file } = await emptyFile();
      const owner = {
        pid: deadPid(), // no such process here; in the holder's namespace it may well be alive
        host: hostname(),
        token: "t",
        acquiredAt: new Date().toISOString(),
        pidNamespace: "pid:[1]",
        startTime: "1",
      };
      await writeFile(`${file}.lock`, JSON.stringify(owner));
      const registry = await adminOn(new ConnectorFileStore(file, { lock: { timeoutMs: 100 } }));
      await expect(registry.create(connectorInput("custom", "CRM"))).rejects.toMatchObject({
        code: "store-locked",
      });
    },
  );

  it("records its holder's pid namespace and start time, which a live holder matches", async () => {
    const { file } = await emptyFile();
    const release = await acquireFileLock(file);
    const owner = JSON.parse(await readFile(`${file}.lock`, "utf8")) as Record<string, unknown>;
    if (onLinux) {
      expect(owner.pidNamespace).toBe(ourNamespace);
      expect(owner.startTime).toMatch(/^\d+$/);
    }
    const registry = await adminOn(new ConnectorFileStore(file, { lock: { timeoutMs: 100 } }));
    await expect(registry.create(connectorInput("custom", "CRM"))).rejects.toMatchObject({
      code: "store-locked",
    });
    await release();
  });

  it("takes over a lock nobody refreshed for longer than staleMs (holder on another host, or unreadable)", async () => {
    const { file } = await emptyFile();
    const owner = { pid: 1, host: "elsewhere", token: "t", acquiredAt: "2026-01-01T00:00:00.000Z" };
    await writeFile(`${file}.lock`, JSON.stringify(owner));
    const store = new ConnectorFileStore(file, { lock: { timeoutMs: 100, staleMs: 1000 } });
    const registry = await adminOn(store);
    await expect(registry.create(connectorInput("custom", "Early"))).rejects.toMatchObject({
      code: "store-locked",
    });
    const old = new Date(Date.now() - 5000);
    await utimes(`${file}.lock`, old, old);
    await registry.create(connectorInput("custom", "CRM"));
    expect(registry.resolve("CRM")?.status).toBe("active");
  });

  it("keeps a lock alive while its holder works longer than staleMs, and release never removes another's lock", async () => {
    const { file } = await emptyFile();
    const release = await acquireFileLock(file, { staleMs: 60 });
    await sleep(200); // three staleness periods: without the holder touching it, the lock would look stale
    await expect(acquireFileLock(file, { staleMs: 60, timeoutMs: 50 })).rejects.toMatchObject({
      code: "store-locked",
    });
    // Someone removed our lock and took it: our release must leave theirs alone.
    const ours = await readFile(`${file}.lock`, "utf8");
    await writeFile(`${file}.lock`, ours.replace(/"token":"[^"]+"/, '"token":"theirs"'));
    await release();
    expect(await readFile(`${file}.lock`, "utf8")).toContain('"token":"theirs"');
  });
});
