import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectorInput } from "../../src/index.js";
import { webexConnector, writeConnectorsFile } from "../helpers/connectors.js";
import { type RotatingTokenServer, startRotatingTokenServer } from "../helpers/rotating-token-server.js";
import {
  bearerOf,
  connectorsDoc,
  engineFor,
  memoryRegistry,
  oneCallFlow,
  outputsOf,
  useApiServer,
} from "./harness.js";

/** A refresh token the token endpoint rotates is persisted (plain string in the file) and used from then on. */

const api = useApiServer();
let tokens: RotatingTokenServer;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "flowrun-rotation-"));
});
afterEach(async () => {
  await tokens?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A token endpoint that accepts exactly one current refresh token and rotates it on every use: `rt-1` -> `rt-2`
 * -> ... An old refresh token is refused with invalid_grant, as RFC 6749 section 6 allows. Its tokens expire at
 * once (expires_in 0): every run needs a new token, so every run shows which refresh token it sends.
 */
const rotatingTokenServer = (prefix: string) => startRotatingTokenServer({ prefix, lifetimeSeconds: 0 });

const webex = (refreshToken: unknown): ConnectorInput =>
  webexConnector(tokens.url("/v1/access_token"), api.url, { refreshToken });

const flowDoc = oneCallFlow({ connector: "Webex CC", requestPath: "/v1/queues" });

describe("rotated refresh token stored in the connectors file", () => {
  it("is written to the file and a new engine + registry opened from the file sends it", async () => {
    tokens = await rotatingTokenServer("rt");
    const { file, open } = writeConnectorsFile(connectorsDoc(webex("rt-1")), dir);

    const registry = await open();
    const warnings: string[] = [];
    const engine = engineFor(registry, {
      secrets: { baseDir: dir, env: {} },
      onWarning: (m) => warnings.push(m),
    });
    try {
      const first = await engine.compile(flowDoc).run();
      expect(outputsOf(first).statusCode).toBe(200);
      // Read back from disk: the rotated refresh token replaced the old one.
      const onDisk = JSON.parse(readFileSync(file, "utf8")) as { connectors: { refreshToken: unknown }[] };
      expect(onDisk.connectors[0]?.refreshToken).toBe("rt-2");
      // The same engine uses the new one for its next token.
      const second = await engine.compile(flowDoc).run();
      expect(outputsOf(second).statusCode).toBe(200);
      expect(JSON.parse(readFileSync(file, "utf8")).connectors[0].refreshToken).toBe("rt-3");
      expect(warnings).toEqual([]);
    } finally {
      await engine.close();
    }

    // A new process: registry and engine opened from the file.
    const reopened = await open();
    const next = engineFor(reopened, { secrets: { baseDir: dir, env: {} } });
    try {
      const result = await next.compile(flowDoc).run();
      expect(outputsOf(result).statusCode).toBe(200);
    } finally {
      await next.close();
    }
    expect(tokens.requests.map((request) => request.form.refresh_token)).toEqual(["rt-1", "rt-2", "rt-3"]);
    expect(api.received.map(bearerOf)).toEqual(["access-1", "access-2", "access-3"]);
  });
});

describe("rotated refresh token from an environment variable", () => {
  it("is not persisted, warns through onWarning, and the process keeps using the new one", async () => {
    tokens = await rotatingTokenServer("env-rt");
    const document = connectorsDoc(webex({ env: "WXCC_REFRESH_TOKEN" }));
    const registry = memoryRegistry(document);
    const warnings: string[] = [];
    const engine = engineFor(registry, {
      secrets: { env: { WXCC_REFRESH_TOKEN: "env-rt-1" } },
      onWarning: (message) => warnings.push(message),
    });
    try {
      for (let run = 0; run < 3; run++)
        expect(outputsOf(await engine.compile(flowDoc).run()).statusCode).toBe(200);
      expect(registry.toDocument().connectors[0]).toMatchObject({
        refreshToken: { env: "WXCC_REFRESH_TOKEN" },
      });
      expect(warnings.length).toBeGreaterThan(0);
      expect(warnings[0]).toContain('connector "Webex CC"');
      expect(warnings[0]).toContain("cannot be stored");
      expect(warnings.join("\n")).not.toContain("env-rt-");

      // Deactivating and reactivating the connector (no edit of the refresh token) must not fall back to the
      // environment's refresh token, which the server already replaced.
      await registry.deactivate("Webex CC");
      await registry.reactivate("Webex CC");
      expect(outputsOf(await engine.compile(flowDoc).run()).statusCode).toBe(200);
    } finally {
      await engine.close();
    }
    expect(tokens.requests.map((request) => request.form.refresh_token)).toEqual([
      "env-rt-1",
      "env-rt-2",
      "env-rt-3",
      "env-rt-4",
    ]);
  });

  it("an admin edit of the refresh token field is used as given (the remembered rotation is forgotten)", async () => {
    tokens = await rotatingTokenServer("env-rt");
    const registry = memoryRegistry(connectorsDoc(webex({ env: "WXCC_REFRESH_TOKEN" })));
    const engine = engineFor(registry, {
      secrets: { env: { WXCC_REFRESH_TOKEN: "env-rt-1", OTHER_REFRESH_TOKEN: "env-rt-2" } },
      onWarning: () => {},
    });
    try {
      await engine.compile(flowDoc).run();
      await registry.deactivate("Webex CC");
      await registry.edit("Webex CC", { refreshToken: { env: "OTHER_REFRESH_TOKEN" } });
      await registry.reactivate("Webex CC");
      expect(outputsOf(await engine.compile(flowDoc).run()).statusCode).toBe(200);
    } finally {
      await engine.close();
    }
    expect(tokens.requests.map((request) => request.form.refresh_token)).toEqual(["env-rt-1", "env-rt-2"]);
  });
});
