// Plain http:// to loopback hosts (local mocks) is one switch, at engine creation: stores and registries take such
// connectors as they are, the engine refuses to send to them unless `allowLoopbackHttp` is set.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorFileStore, MemoryConnectorStore } from "../../src/connectors/file-store.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import type { ConnectorsFile } from "../../src/connectors/schema.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { httpFlow } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { startTokenServer, type TokenServer, tokenAnswer } from "../helpers/token-server.js";

let api: LoopbackServer;
let tokens: TokenServer;
const dir = mkdtempSync(path.join(tmpdir(), "flowrun-loopback-"));

beforeAll(async () => {
  api = await startHttpServer();
  tokens = await startTokenServer({ fallback: tokenAnswer({ access_token: "local-token" }) });
});
afterAll(async () => {
  await closeAllServers();
  await tokens.close();
  rmSync(dir, { recursive: true, force: true });
});

function document(): ConnectorsFile {
  return {
    connectors: [
      {
        id: "local-basic",
        name: "LocalBasic",
        type: "custom",
        status: "active",
        resourceDomainUrl: api.url,
        auth: { type: "basic", username: "u", password: "p-12345678" },
      },
      {
        id: "local-oauth",
        name: "LocalOAuth",
        type: "custom",
        status: "active",
        resourceDomainUrl: "https://crm.example.com",
        auth: {
          type: "oauth2",
          grantType: "client_credentials",
          clientAuth: "basic",
          clientId: "c",
          clientSecret: "s-12345678",
          tokenUrl: tokens.url(),
        },
      },
    ],
  } as ConnectorsFile;
}

async function outcome(
  registry: ConnectorRegistry,
  allowLoopbackHttp: boolean | undefined,
  connector: string,
) {
  const engine = createEngine({ connectors: registry, allowLoopbackHttp });
  try {
    const result = await engine.compile(httpFlow({ connector, requestPath: "/x" })).run();
    return result.variables.out as { statusCode: number | null; error?: { kind: string; message: string } };
  } finally {
    await engine.close();
  }
}

describe("allowLoopbackHttp: one switch on createEngine", () => {
  it("stores and registries take loopback http connectors without an option of their own", async () => {
    const file = path.join(dir, "connectors.json");
    writeFileSync(file, JSON.stringify(document()));
    for (const store of [new ConnectorFileStore(file), new MemoryConnectorStore(document())]) {
      const registry = await ConnectorRegistry.open(store, { role: "full-admin" });
      expect(registry.list().map((c) => c.name)).toEqual(["LocalBasic", "LocalOAuth"]);
      await registry.close();
    }
  });

  it("without the switch the engine sends nothing to a loopback http base URL and says which option allows it", async () => {
    const registry = await ConnectorRegistry.open(new MemoryConnectorStore(document()));
    const before = api.received.length;
    const refused = await outcome(registry, undefined, "LocalBasic");
    expect(refused.statusCode).toBeNull();
    expect(refused.error?.message).toContain("allowLoopbackHttp");
    expect(api.received.length).toBe(before);
    expect(await outcome(registry, true, "LocalBasic")).toMatchObject({ statusCode: 200 });
    await registry.close();
  });

  it("without the switch a loopback http token URL is refused before a token request", async () => {
    const registry = await ConnectorRegistry.open(new MemoryConnectorStore(document()));
    const refused = await outcome(registry, false, "LocalOAuth");
    expect(refused.error?.message).toMatch(
      /token URL uses plain http:\/\/ on a loopback host.*allowLoopbackHttp/,
    );
    expect(tokens.requests).toHaveLength(0);
    await registry.close();
  });
});
