import { readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectorFileStore, type FileStoreOptions } from "../../src/connectors/file-store.js";
import { type ConnectorChange, ConnectorRegistry } from "../../src/connectors/registry.js";
import { connectorInput, tempDir } from "./builders.js";

/** Fast polling so that tests relying on the poll alone stay short. */
const FAST: FileStoreOptions = { pollMs: 20 };
const opened: ConnectorRegistry[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((registry) => registry.close()));
});

async function follower(file: string, options: FileStoreOptions = FAST) {
  const warnings: string[] = [];
  const changes: ConnectorChange[] = [];
  const registry = await ConnectorRegistry.open(new ConnectorFileStore(file, options), {
    onWarning: (message) => warnings.push(message),
  });
  opened.push(registry);
  registry.on("change", (change) => changes.push(change));
  return { registry, warnings, changes };
}

/** Another administrator: its own store and registry, not following (like the CLI). */
async function admin(file: string) {
  return ConnectorRegistry.open(new ConnectorFileStore(file, { createIfMissing: true }), {
    role: "full-admin",
    follow: false,
  });
}

async function eventually(check: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(10);
    }
  }
}

async function fileWith(...names: string[]) {
  const dir = await tempDir();
  const file = path.join(dir, "connectors.json");
  const writer = await admin(file);
  for (const name of names) await writer.create(connectorInput("custom", name));
  return { dir, file };
}

/** Writes the file as an editor does: in place, not atomically. */
async function editInPlace(file: string, edit: (text: string) => string): Promise<void> {
  await writeFile(file, edit(await readFile(file, "utf8")));
}

describe("a registry on a connectors file follows other processes' writes", () => {
  it("applies every kind of change as its own change event, keeping unchanged connectors as they were", async () => {
    const { file } = await fileWith("CRM", "Billing");
    const { registry, changes } = await follower(file);
    const billing = registry.resolve("Billing");
    const other = await admin(file);

    await other.deactivate("CRM");
    await eventually(() => expect(registry.resolve("CRM")?.status).toBe("inactive"));
    await other.edit("CRM", { auth: { username: "ivr" } });
    await eventually(() => expect(changes.map((c) => c.kind)).toEqual(["deactivated", "edited"]));
    await other.reactivate("CRM");
    await other.create(connectorInput("genesys", "Genesys"));
    await other.deactivate("Genesys");
    await other.delete("Genesys");
    await eventually(() => expect(registry.resolve("Genesys")).toBeUndefined());
    await eventually(() => expect(registry.resolve("CRM")?.status).toBe("active"));

    // Changes that happen between two reads may merge (created+deactivated+deleted = nothing at all), but what
    // the registry saw must be a consistent story ending in the file's state.
    const kinds = changes.map((c) => `${c.kind}:${c.connector.name}`);
    expect(kinds.slice(0, 3)).toEqual(["deactivated:CRM", "edited:CRM", "reactivated:CRM"]);
    expect(registry.resolve("CRM")).toMatchObject({ status: "active", auth: { username: "ivr" } });
    expect(registry.resolve("Billing")).toBe(billing);
    expect(changes.some((c) => c.connector.name === "Billing")).toBe(false);
  });

  it("picks up the CLI's atomic rename and an in-place edit with fs.watch switched off (the poll alone)", async () => {
    const { file } = await fileWith("CRM");
    const { registry, changes } = await follower(file, { pollMs: 20, fsWatch: false });
    await (await admin(file)).deactivate("CRM");
    await eventually(() => expect(registry.resolve("CRM")?.status).toBe("inactive"));
    await editInPlace(file, (text) => text.replace('"status": "inactive"', '"status": "active"'));
    await eventually(() => expect(registry.resolve("CRM")?.status).toBe("active"));
    expect(changes.map((c) => c.kind)).toEqual(["deactivated", "reactivated"]);
  });

  it("reports a refresh token another process rotated as rotated, not as an edit", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "connectors.json");
    const writer = await admin(file);
    const wx = await writer.create({
      ...connectorInput("webex-contact-center", "WxCC"),
      refreshToken: "rt-1",
    });
    const { registry, changes } = await follower(file);
    await writer.rotateRefreshToken(wx.id, "rt-2", 1);
    await writer.rotateRefreshToken(wx.id, "rt-3", 2);
    // Each rotation carries a new generation: still a rotation, never an edit (an edit would drop every other
    // process's cached access token, and each would refresh, rotate and drop the others' in turn).
    await eventually(() => expect(registry.resolve("WxCC")).toMatchObject({ refreshToken: "rt-3" }));
    expect(new Set(changes.map((c) => c.kind))).toEqual(new Set(["refresh-token-rotated"]));
    expect(registry.resolve("WxCC")).toMatchObject({ refreshTokenGeneration: 2 });
  });

  it("keeps the last good state when the file is broken by hand, warns once with where, picks up the next valid write", async () => {
    const { file } = await fileWith("CRM");
    const { registry, warnings, changes } = await follower(file);
    const good = await readFile(file, "utf8");
    await writeFile(file, good.replace('"status": "active"', '"status": "active",,'));
    await eventually(() => expect(warnings).toHaveLength(1));
    expect(warnings[0]).toMatch(/last valid state stays in force/);
    expect(warnings[0]).toMatch(/connectors\.json:\d+:\d+: not valid JSON/);
    // The same broken content written again is the same problem: no second warning.
    await writeFile(file, good.replace('"status": "active"', '"status": "active",,'));
    await registry.refresh();
    expect(warnings).toHaveLength(1);
    expect(registry.resolve("CRM")?.status).toBe("active");

    // Valid JSON that breaks a rule is a new problem, located by its JSON path.
    const parsed = JSON.parse(good) as { connectors: Record<string, unknown>[] };
    const twin = { ...parsed.connectors[0], id: "second-id", name: "crm" };
    await writeFile(file, JSON.stringify({ connectors: [...parsed.connectors, twin] }));
    await eventually(() => expect(warnings).toHaveLength(2));
    expect(warnings[1]).toContain("$.connectors[1].name");
    expect(registry.list({ role: "full-admin" })).toHaveLength(1);

    await writeFile(file, good.replace('"status": "active"', '"status": "inactive"'));
    await eventually(() => expect(registry.resolve("CRM")?.status).toBe("inactive"));
    expect(warnings[2]).toMatch(/valid again/);
    expect(changes.map((c) => c.kind)).toEqual(["deactivated"]);
  });

  it("treats a deleted file as a broken one, and follows it again once it is back", async () => {
    const { file } = await fileWith("CRM");
    const { registry, warnings } = await follower(file);
    const text = await readFile(file, "utf8");
    await rm(file);
    await eventually(() => expect(warnings.join()).toMatch(/no such file/));
    expect(registry.resolve("CRM")?.status).toBe("active");
    await writeFile(`${file}.new`, text.replace('"status": "active"', '"status": "inactive"'));
    await rename(`${file}.new`, file);
    await eventually(() => expect(registry.resolve("CRM")?.status).toBe("inactive"));
  });

  it("coalesces a burst of change notices into at most one re-read behind the running one", async () => {
    const { file } = await fileWith("CRM");
    let loads = 0;
    const store = new ConnectorFileStore(file);
    const load = store.load.bind(store);
    const during: Promise<unknown>[] = [];
    let registry: ConnectorRegistry | undefined;
    store.load = () => {
      loads++;
      // Notices arriving while a re-read runs: it may have read too early, so exactly one more must follow.
      if (loads === 2) for (let i = 0; i < 10; i++) during.push(registry!.refresh());
      return load();
    };
    registry = await ConnectorRegistry.open(store, { follow: false });
    await Promise.all(Array.from({ length: 10 }, () => registry!.refresh()));
    await Promise.all(during);
    expect(loads).toBe(3); // open, the re-read for the first burst, one for the burst during it
  });

  it("close() stops following, and following never holds the process open", async () => {
    const { file } = await fileWith("CRM");
    // Referenced handles (what keeps a process alive) are listed; the watcher and the poll timer must not be.
    // Requests (file reads in flight) come and go; handles and timers are what count.
    const handles = () =>
      process
        .getActiveResourcesInfo()
        .filter((name) => !name.endsWith("Req") && !name.startsWith("FSReq"))
        .sort();
    const { registry, changes } = await follower(file);
    await sleep(60); // a few polls have run
    const following = handles();
    await registry.close();
    await new Promise((resolve) => setImmediate(resolve));
    // Had the watcher or the timer been referenced, closing would have removed them from the list.
    expect(following).toEqual(handles());
    await (await admin(file)).deactivate("CRM");
    await sleep(300); // 15 poll periods: enough for a registry still following to have applied it
    expect(registry.resolve("CRM")?.status).toBe("active");
    expect(changes).toEqual([]);
  });
});
