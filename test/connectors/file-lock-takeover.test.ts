import { spawnSync } from "node:child_process";
import { existsSync, readlinkSync } from "node:fs";
import { open, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { acquireFileLock } from "../../src/connectors/file-lock.js";
import { tempDir } from "./builders.js";

// The pid namespace and boot id come from /proc: Linux only, as where the fleet runs.
describe.skipIf(!existsSync("/proc/self/ns/pid"))("taking over a dead holder's lock", () => {
  it("many waiters judging the same stale lock at once: never two holders inside together", async () => {
    for (let round = 0; round < 20; round++) {
      const dir = await tempDir();
      const file = path.join(dir, "connectors.json");
      const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
      const stale = {
        pid: dead,
        host: hostname(),
        token: "dead0000dead0000",
        acquiredAt: new Date().toISOString(),
        pidNamespace: readlinkSync("/proc/self/ns/pid"),
      };
      await writeFile(`${file}.lock`, JSON.stringify(stale));
      const inside = path.join(dir, "inside");
      let overlaps = 0;
      await Promise.all(
        Array.from({ length: 12 }, async () => {
          const release = await acquireFileLock(file, { timeoutMs: 20_000 });
          try {
            const marker = await open(inside, "wx").catch(() => undefined);
            if (marker === undefined) overlaps++;
            await sleep(1);
            await marker?.close();
            if (marker) await unlink(inside);
          } finally {
            await release();
          }
        }),
      );
      expect(overlaps).toBe(0);
    }
  }, 120_000);

  it("a dead pid in a lock written under another kernel (boot id) is no proof: that lock is not taken over", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "connectors.json");
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const elsewhere = {
      pid: dead,
      host: hostname(),
      token: "0ther0000host000",
      acquiredAt: new Date().toISOString(),
      pidNamespace: readlinkSync("/proc/self/ns/pid"),
      bootId: "00000000-0000-4000-8000-000000000000",
    };
    await writeFile(`${file}.lock`, JSON.stringify(elsewhere));
    await expect(acquireFileLock(file, { timeoutMs: 300 })).rejects.toMatchObject({ code: "store-locked" });
    // Without the boot id (the same lock as this kernel writes it) the dead pid is proof enough.
    await writeFile(`${file}.lock`, JSON.stringify({ ...elsewhere, bootId: undefined }));
    const release = await acquireFileLock(file, { timeoutMs: 300 });
    await release();
  });
});
