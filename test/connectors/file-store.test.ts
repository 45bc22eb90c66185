import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConnectorError, ConnectorValidationError } from "../../src/connectors/errors.js";
import { ConnectorFileStore } from "../../src/connectors/file-store.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import { JsonSourceError } from "../../src/core/json-source.js";
import { connectorInput, tempDir } from "./builders.js";

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../fixtures/connectors.json");

async function fileWithOneConnector(): Promise<{ dir: string; file: string; text: string }> {
  const dir = await tempDir();
  const file = path.join(dir, "connectors.json");
  const registry = await ConnectorRegistry.open(new ConnectorFileStore(file, { createIfMissing: true }), {
    role: "full-admin",
  });
  await registry.create(connectorInput("custom", "CRM"));
  return { dir, file, text: await readFile(file, "utf8") };
}

describe("loading", () => {
  it("loads the fixture with one connector of each of the nine shapes (Genesys with both grants)", async () => {
    const store = new ConnectorFileStore(fixture);
    const { document, warnings } = await store.load();
    expect(warnings).toEqual([]);
    const shapes = document.connectors.map((c) =>
      c.type === "custom"
        ? `custom/${c.auth.type}${c.auth.type === "oauth2" ? `/${c.auth.grantType}` : ""}`
        : c.type === "genesys"
          ? `genesys/${c.grant}`
          : c.type,
    );
    expect(shapes).toEqual([
      "custom/basic",
      "custom/oauth2/client_credentials",
      "custom/oauth2/password",
      "webex-contact-center",
      "salesforce",
      "google",
      "google-ccai",
      "webex-experience-management",
      "genesys/client_credentials",
      "genesys/authorization_code",
    ]);
    expect(document.ccaiConfigs).toEqual([{ name: "Virtual Agent", connector: "Google CCAI" }]);
  });

  it("reports bad JSON with file:line:col", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "connectors.json");
    await writeFile(file, '{\n  "connectors": [\n    { "name": "CRM", }\n  ]\n}\n');
    const error = await new ConnectorFileStore(file).load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JsonSourceError);
    expect((error as Error).message).toContain(`${file}:3:22: not valid JSON`);
  });

  it("reports every schema and rule problem with its JSON path", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "connectors.json");
    const crm = { id: "a", status: "active", ...connectorInput("custom", "CRM") };
    await writeFile(
      file,
      JSON.stringify({
        connectors: [crm, { ...crm, id: "b", name: "crm", resourceDomainUrl: "http://crm.example.com" }],
        ccaiConfigs: [{ name: "VA", connector: "CRM" }],
      }),
    );
    const error = (await new ConnectorFileStore(file)
      .load()
      .catch((e: unknown) => e)) as ConnectorValidationError;
    expect(error).toBeInstanceOf(ConnectorValidationError);
    expect(error.problems.map((p) => p.path)).toEqual([
      "$.connectors[1].name",
      "$.connectors[1].resourceDomainUrl",
      "$.ccaiConfigs[0].connector",
    ]);
    await writeFile(file, JSON.stringify({ connectors: [{ ...crm, auth: { type: "basic" } }], extra: 1 }));
    const schemaError = (await new ConnectorFileStore(file)
      .load()
      .catch((e: unknown) => e)) as ConnectorValidationError;
    expect(schemaError.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(["$.connectors[0].auth.username", "$.connectors[0].auth.password", "$"]),
    );
  });

  it("treats a missing file as an error unless asked to create it", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "connectors.json");
    await expect(new ConnectorFileStore(file).load()).rejects.toMatchObject({ code: "connectors-file" });
    expect((await new ConnectorFileStore(file, { createIfMissing: true }).load()).document).toEqual({
      connectors: [],
    });
  });
});

describe("saving", () => {
  it("writes mode 0600 and keeps it", async () => {
    const { file } = await fileWithOneConnector();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const registry = await ConnectorRegistry.open(new ConnectorFileStore(file), { role: "full-admin" });
    await registry.deactivate("CRM");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const reread = await new ConnectorFileStore(file).load();
    expect(reread.document.connectors[0]?.status).toBe("inactive");
  });

  it("a crash between writing the temp file and renaming it leaves the old file intact and no partial file", async () => {
    const { dir, file, text } = await fileWithOneConnector();
    const crashingStore = new ConnectorFileStore(file, {
      rename: async () => {
        throw Object.assign(new Error("simulated crash"), { code: "EIO" });
      },
    });
    const registry = await ConnectorRegistry.open(crashingStore, { role: "full-admin" });
    const error = await registry.deactivate("CRM").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as ConnectorError).message).toContain("the previous file is unchanged");
    expect(await readFile(file, "utf8")).toBe(text);
    expect(await readdir(dir)).toEqual(["connectors.json"]);
    expect(registry.resolve("CRM")?.status).toBe("active");
  });

  it("an abandoned temp file from a crashed writer does not affect the file", async () => {
    const { dir, file, text } = await fileWithOneConnector();
    await writeFile(path.join(dir, ".connectors.json.999.dead.tmp"), '{"connectors": [ {"na');
    const loaded = await new ConnectorFileStore(file).load();
    expect(loaded.document.connectors.map((c) => c.name)).toEqual(["CRM"]);
    expect(await readFile(file, "utf8")).toBe(text);
  });

  it("a registry that read the file earlier applies its change on top of someone else's, never over it", async () => {
    const { file } = await fileWithOneConnector();
    const mine = await ConnectorRegistry.open(new ConnectorFileStore(file), {
      role: "full-admin",
      follow: false,
    });
    const theirs = await ConnectorRegistry.open(new ConnectorFileStore(file), {
      role: "full-admin",
      follow: false,
    });
    const seen: string[] = [];
    mine.on("change", ({ kind, connector }) => seen.push(`${kind}:${connector.name}`));
    await theirs.create(connectorInput("genesys", "Theirs"));
    // Under the write lock the file is read again first: their connector counts for the rules and is kept.
    await expect(mine.create(connectorInput("genesys", "theirs"))).rejects.toMatchObject({
      code: "name-taken",
    });
    await mine.create(connectorInput("custom", "Mine"));
    expect(seen).toEqual(["created:Theirs", "created:Mine"]);
    const reread = await ConnectorRegistry.open(new ConnectorFileStore(file), { role: "full-admin" });
    expect(reread.list().map((c) => c.name)).toEqual(["CRM", "Theirs", "Mine"]);
    await reread.close();
  });

  it("refuses to overwrite a file changed by a writer that ignores the lock, and keeps their change", async () => {
    const { file } = await fileWithOneConnector();
    const handEdited = `${(await readFile(file, "utf8")).trimEnd()}\n\n`;
    const registry = await ConnectorRegistry.open(new ConnectorFileStore(file), {
      role: "full-admin",
      follow: false,
      // Runs under the lock, after the re-read: the hand edit lands between that read and the save.
      validate: async (connector) => {
        await writeFile(file, handEdited);
        return { status: "ok", message: `checked ${connector.name}` };
      },
    });
    const error = (await registry
      .create(connectorInput("custom", "Mine"), { validate: true })
      .catch((e: unknown) => e)) as ConnectorError;
    expect(error.code).toBe("concurrent-change");
    expect(error.message).toContain("changed since it was read");
    expect(await readFile(file, "utf8")).toBe(handEdited);
    expect(registry.resolve("Mine")).toBeUndefined();
  });

  it("creates the file on top of one that appeared after the missing file was read", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "connectors.json");
    const registry = await ConnectorRegistry.open(new ConnectorFileStore(file, { createIfMissing: true }), {
      role: "full-admin",
      follow: false,
    });
    await writeFile(file, '{ "$schema": "x.json", "connectors": [] }\n');
    await registry.create(connectorInput("custom", "CRM"));
    const saved = JSON.parse(await readFile(file, "utf8"));
    expect(saved.$schema).toBe("x.json");
    expect(saved.connectors.map((c: { name: string }) => c.name)).toEqual(["CRM"]);
  });
});
