import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/errors.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import {
  insecureSecretWarnings,
  maskConnector,
  maskSecret,
  resolveSecret,
  secretFields,
} from "../../src/connectors/secrets.js";
import { scrubSecrets } from "../../src/core/redact.js";
import { connectorInput, tempDir } from "./builders.js";

const crm = { name: "CRM" };

function thrown(run: () => unknown): ConnectorError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectorError);
    return error as ConnectorError;
  }
  throw new Error("expected an error");
}

describe("resolveSecret", () => {
  it("resolves plain strings, environment variables and files relative to the connectors file", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "secret.txt"), "from-file-s3cr3t\n");
    const context = { env: { CRM_SECRET: "from-env-s3cr3t" }, baseDir: dir };
    expect(resolveSecret(crm, "auth.password", "plain-s3cr3t", context)).toBe("plain-s3cr3t");
    expect(resolveSecret(crm, "auth.password", { env: "CRM_SECRET" }, context)).toBe("from-env-s3cr3t");
    expect(resolveSecret(crm, "auth.password", { file: "secret.txt" }, context)).toBe("from-file-s3cr3t");
  });

  it("names connector and field of an unresolvable secret, never a value", async () => {
    const dir = await tempDir();
    const missingEnv = thrown(() =>
      resolveSecret(
        crm,
        "auth.clientSecret",
        { env: "NOT_SET" },
        { env: { OTHER: "s3cr3t-value" }, baseDir: dir },
      ),
    );
    expect(missingEnv.code).toBe("secret-unresolved");
    expect(missingEnv.message).toBe(
      'secret auth.clientSecret of connector "CRM": environment variable NOT_SET is not set',
    );
    const missingFile = thrown(() =>
      resolveSecret(crm, "auth.password", { file: "nope.txt" }, { env: {}, baseDir: dir }),
    );
    expect(missingFile.message).toContain('secret auth.password of connector "CRM"');
    expect(missingFile.message).toContain("nope.txt");
    expect(missingFile.message).toContain("ENOENT");
  });
});

describe("masking and warnings", () => {
  it("masks every secret for display", async () => {
    expect(maskSecret("hunter2")).toBe("••••");
    expect(maskSecret({ env: "CRM_SECRET" })).toBe("env:CRM_SECRET");
    expect(maskSecret({ file: "secrets/crm" })).toBe("file:secrets/crm");
    const registry = new ConnectorRegistry(undefined, { role: "full-admin" });
    const created = await registry.create({
      ...connectorInput("custom-password", "CRM"),
      auth: { ...connectorInput("custom-password", "CRM").auth, password: "hunter2-plain" },
    });
    const masked = maskConnector(created);
    expect(JSON.stringify(masked)).not.toContain("hunter2-plain");
    expect(masked).toMatchObject({
      auth: { password: "••••", clientSecret: "env:CRM_SECRET", clientId: "flows" },
    });
    expect(created).toMatchObject({ auth: { password: "hunter2-plain" } });
  });

  it("knows the secret fields of every type", async () => {
    const registry = new ConnectorRegistry(undefined, { role: "full-admin" });
    const fields = async (type: Parameters<typeof connectorInput>[0]) =>
      secretFields(await registry.create(connectorInput(type, type))).map((f) => f.field);
    expect(await fields("custom-password")).toEqual(["auth.password", "auth.clientSecret"]);
    expect(await fields("webex-contact-center")).toEqual(["clientSecret", "refreshToken"]);
    expect(await fields("salesforce")).toEqual(["privateKey"]);
    expect(await fields("google")).toEqual(["serviceAccountKey"]);
    expect(await fields("google-ccai")).toEqual(["clientSecret", "refreshToken"]);
    expect(await fields("webex-experience-management")).toEqual(["apiKey"]);
    expect(await fields("genesys")).toEqual(["clientSecret"]);
  });

  it("treats the proxy password, the client certificate's parts as secrets of any type", async () => {
    const registry = new ConnectorRegistry(undefined, { role: "full-admin" });
    const created = await registry.create({
      ...connectorInput("genesys", "G"),
      proxy: { url: "http://proxy.corp.example:3128", username: "flows", password: "proxy-plain" },
      tls: { cert: { file: "c.pem" }, key: "key-plain", passphrase: { env: "PASS" }, ca: { file: "ca.pem" } },
    } as Parameters<typeof registry.create>[0]);
    expect(secretFields(created).map((f) => f.field)).toEqual([
      "clientSecret",
      "proxy.password",
      "tls.cert",
      "tls.key",
      "tls.passphrase",
      "tls.ca",
    ]);
    const masked = maskConnector(created);
    expect(JSON.stringify(masked)).not.toMatch(/proxy-plain|key-plain/);
    expect(masked).toMatchObject({
      proxy: { password: "••••" },
      tls: { key: "••••", passphrase: "env:PASS" },
    });
    expect(insecureSecretWarnings(created).map((w) => w.path)).toEqual(["$.proxy.password", "$.tls.key"]);
  });

  it("warns that a plain secret is stored insecurely, naming connector and field", async () => {
    const registry = new ConnectorRegistry(undefined, { role: "full-admin" });
    const wxm = await registry.create({
      ...connectorInput("webex-experience-management", "Surveys"),
      apiKey: "k3y-value",
    });
    const warnings = insecureSecretWarnings(wxm, ["connectors", 0]);
    expect(warnings).toEqual([
      {
        path: "$.connectors[0].apiKey",
        severity: "warning",
        message: expect.stringContaining('secret apiKey of connector "Surveys" is stored insecurely'),
      },
    ]);
    expect(JSON.stringify(warnings)).not.toContain("k3y-value");
    expect(new ConnectorRegistry(registry.toDocument()).warnings).toHaveLength(1);
  });

  it("redacts secrets and their base64 form from foreign text", () => {
    const text = `denied for user:pa55word (${Buffer.from("user:pa55word").toString("base64")})`;
    const redacted = scrubSecrets(text, ["pa55word", "user:pa55word"]);
    expect(redacted).not.toContain("pa55word");
    expect(redacted).not.toContain(Buffer.from("user:pa55word").toString("base64"));
  });
});
