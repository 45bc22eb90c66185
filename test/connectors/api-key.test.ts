import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createBasicAuthValidator } from "../../src/connectors/connectivity.js";
import { connectorAuth } from "../../src/connectors/connector-auth.js";
import { ConnectorError, ConnectorValidationError } from "../../src/connectors/errors.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import { CONNECTOR_TYPES, connectorSchema } from "../../src/connectors/schema.js";
import { insecureSecretWarnings, maskConnector } from "../../src/connectors/secrets.js";
import { connectorEndpoints } from "../../src/connectors/url-rules.js";
import { cli } from "../helpers/cli.js";
import { connectorInput, tempDir } from "./builders.js";

const KEY = "k3y-Only-In-Env-51f0";

function parse(fields: Record<string, unknown> = {}) {
  return connectorSchema.parse({ id: "a1", ...connectorInput("api-key", "Weather"), ...fields });
}

async function refusal(promise: Promise<unknown>): Promise<ConnectorError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConnectorError);
  return error as ConnectorError;
}

describe("the api-key connector type", () => {
  it("is a type of the connectors file and of its committed JSON Schema", async () => {
    expect(CONNECTOR_TYPES).toContain("api-key");
    const schema = await readFile(path.resolve("schema/connectors.schema.json"), "utf8");
    expect(schema).toContain('"const": "api-key"');
    expect(schema).toContain('"default": "X-API-Key"');
  });

  it("defaults the header to X-API-Key, without prefix, and sends the key there", () => {
    const connector = parse();
    expect(connector).toMatchObject({ type: "api-key", headerName: "X-API-Key", status: "active" });
    expect(connectorEndpoints(connector)).toEqual({
      baseUrl: "https://api.example.com",
      tokenUrl: undefined,
    });
    const auth = connectorAuth(connector, () => KEY);
    expect(auth.auth).toEqual({ kind: "static-header", headerName: "x-api-key", value: KEY });
    expect(auth.baseUrlFromToken).toBe(false);
  });

  it("puts the prefix before the key in the header it is told", () => {
    const connector = parse({ headerName: "X-Api-Token", valuePrefix: "ApiKey " });
    expect(connectorAuth(connector, () => KEY).auth).toEqual({
      kind: "static-header",
      headerName: "x-api-token",
      value: `ApiKey ${KEY}`,
    });
  });

  for (const headerName of ["Authorization", "host", "Content-Length", "Cookie", "Proxy-Authorization"]) {
    it(`refuses ${headerName} as the key's header, saying why`, async () => {
      const registry = new ConnectorRegistry(undefined, { role: "full-admin" });
      const error = await refusal(registry.create({ ...connectorInput("api-key", "Weather"), headerName }));
      expect(error).toBeInstanceOf(ConnectorValidationError);
      expect(error.code).toBe("invalid-connector");
      expect(error.message).toContain(`${headerName} cannot carry the key`);
      expect((error as ConnectorValidationError).problems[0]?.path).toBe("$.headerName");
    });
  }

  it("refuses a header name that is not a token", () => {
    expect(
      connectorSchema.safeParse({ id: "a1", ...connectorInput("api-key", "W"), headerName: "X Key" }).success,
    ).toBe(false);
  });

  it("holds the key as a secret: masked, warned about in plain text, never shown", () => {
    const connector = parse({ apiKey: KEY });
    expect(JSON.stringify(maskConnector(connector))).not.toContain(KEY);
    expect(insecureSecretWarnings(connector).map((warning) => warning.path)).toEqual(["$.apiKey"]);
  });

  it("allows ten per organisation", async () => {
    const registry = new ConnectorRegistry(undefined, { role: "full-admin" });
    for (let i = 0; i < 10; i++) await registry.create(connectorInput("api-key", `Key ${i}`));
    const error = await refusal(registry.create(connectorInput("api-key", "Key 10")));
    expect(error.code).toBe("connector-limit");
  });

  it("has no connectivity check", async () => {
    const result = await createBasicAuthValidator({ env: {}, baseDir: "." })(parse());
    expect(result.status).toBe("unavailable");
    expect(result.message).toContain("not for api-key");
  });

  it("is added by `flowrun connectors add --type api-key`, the key from the environment", async () => {
    const dir = await tempDir();
    const added = await cli(
      [
        "connectors",
        "add",
        "--name",
        "Weather",
        "--type",
        "api-key",
        "--set",
        "resourceDomainUrl=https://api.weather.example",
        "--set",
        "headerName=X-Weather-Key",
        "--set",
        "apiKey.env=WEATHER_KEY",
      ],
      { cwd: dir, env: { WEATHER_KEY: KEY } },
    );
    expect(added).toMatchObject({ code: 0, stderr: "" });
    expect(added.stdout).toMatch(/created connector "Weather" \(api-key, id [0-9a-f-]{36}\), active/);
    const stored = JSON.parse(await readFile(path.join(dir, "connectors.json"), "utf8"));
    expect(stored.connectors[0]).toMatchObject({
      type: "api-key",
      headerName: "X-Weather-Key",
      apiKey: { env: "WEATHER_KEY" },
    });

    const refused = await cli(
      [
        "connectors",
        "add",
        "--name",
        "Bad",
        "--type",
        "api-key",
        "--set",
        "resourceDomainUrl=https://a.example",
      ].concat(["--set", "apiKey.env=WEATHER_KEY", "--set", "headerName=Authorization"]),
      { cwd: dir, env: {} },
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("Authorization cannot carry the key");
  });
});
