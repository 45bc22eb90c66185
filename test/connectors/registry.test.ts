import { describe, expect, it } from "vitest";
import type { ConnectivityValidator } from "../../src/connectors/connectivity.js";
import { ConnectorError } from "../../src/connectors/errors.js";
import { MemoryConnectorStore } from "../../src/connectors/file-store.js";
import { type ConnectorChange, ConnectorRegistry } from "../../src/connectors/registry.js";
import { allowedMethods, isTokenExpired } from "../../src/connectors/request-rules.js";
import type { ConnectorsFile, ConnectorType } from "../../src/connectors/schema.js";
import { connectorEndpoints } from "../../src/connectors/url-rules.js";
import { connectorInput } from "./builders.js";

const admin = { role: "full-admin" } as const;

function registry(
  document?: ConnectorsFile,
  options: ConstructorParameters<typeof ConnectorRegistry>[1] = {},
) {
  return new ConnectorRegistry(document, { role: "full-admin", ...options });
}

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<ConnectorError> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectorError);
    return error as ConnectorError;
  }
  throw new Error("expected a refusal");
}

async function inactive(reg: ConnectorRegistry, type: Parameters<typeof connectorInput>[0], name: string) {
  const created = await reg.create(connectorInput(type, name));
  return reg.deactivate(created.id);
}

describe("creation", () => {
  it("generates a UUID id, stores active, applies per-type defaults", async () => {
    const reg = registry();
    const wxcc = await reg.create(connectorInput("webex-contact-center", "WXCC"));
    expect(wxcc.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(wxcc.status).toBe("active");
    expect(wxcc).toMatchObject({ tokenUrl: "https://webexapis.com/v1/access_token" });
    expect(await reg.create(connectorInput("salesforce", "SF"))).toMatchObject({
      authServerUrl: "https://login.salesforce.com",
    });
    expect(await reg.create(connectorInput("google", "G"))).toMatchObject({
      resourceDomainUrl: "https://texttospeech.googleapis.com",
      scopes: ["https://www.googleapis.com/auth/cloud-platform"],
    });
    const wxm = await reg.create(connectorInput("webex-experience-management", "WXM"));
    expect(wxm).toMatchObject({ resourceDomainUrl: "https://api.getcloudcherry.com" });
    expect(connectorEndpoints(wxm).tokenUrl).toBe("https://api.getcloudcherry.com/api/LoginToken");
    const genesys = await reg.create(connectorInput("genesys", "Genesys"));
    expect(connectorEndpoints(genesys)).toEqual({
      baseUrl: "https://api.mypurecloud.com",
      tokenUrl: "https://login.mypurecloud.com/oauth/token",
    });
    expect(await reg.create(connectorInput("custom-oauth2", "CRM"))).toMatchObject({
      auth: { grantType: "client_credentials", clientAuth: "basic" },
    });
  });

  it("refuses a given id and a status other than active", async () => {
    const reg = registry();
    expect((await refusal(reg.create({ ...connectorInput("custom", "A"), id: "mine" }))).code).toBe(
      "immutable-field",
    );
    expect((await refusal(reg.create({ ...connectorInput("custom", "A"), status: "inactive" }))).code).toBe(
      "invalid-connector",
    );
  });

  it("reports every schema problem with its JSON path", async () => {
    const error = await refusal(registry().create({ name: "X", type: "salesforce", clientId: 3 }));
    expect(error.code).toBe("invalid-connector");
    expect(error.message).toContain("$.clientId");
    expect(error.message).toContain("$.username");
  });

  it("refuses a genesys authorization_code connection without its refresh token", async () => {
    const error = await refusal(
      registry().create({ ...connectorInput("genesys", "G"), grant: "authorization_code" }),
    );
    expect(error.message).toContain("$.refreshToken");
  });
});

describe("limits per organisation", () => {
  const cases: [ConnectorType, number][] = [
    ["custom", 10],
    ["salesforce", 5],
    ["google", 5],
    ["webex-experience-management", 1],
  ];
  for (const [type, limit] of cases) {
    it(`refuses connector ${limit + 1} of type ${type}`, async () => {
      const reg = registry();
      for (let i = 1; i <= limit; i++) await reg.create(connectorInput(type, `${type} ${i}`));
      const error = await refusal(reg.create(connectorInput(type, `${type} ${limit + 1}`)));
      expect(error.code).toBe("connector-limit");
      expect(error.message).toContain(`at most ${limit} ${type}`);
      expect(reg.list()).toHaveLength(limit);
    });
  }

  it("counts inactive connectors too, and leaves unlimited types alone", async () => {
    const reg = registry();
    await inactive(reg, "webex-experience-management", "WXM");
    expect((await refusal(reg.create(connectorInput("webex-experience-management", "WXM 2")))).code).toBe(
      "connector-limit",
    );
    for (let i = 0; i < 12; i++) await reg.create(connectorInput("genesys", `G${i}`));
  });
});

describe("names", () => {
  it("are unique case-insensitively on create and on rename", async () => {
    const reg = registry();
    await reg.create(connectorInput("custom", "CRM"));
    expect((await refusal(reg.create(connectorInput("genesys", "crm")))).code).toBe("name-taken");
    const other = await inactive(reg, "custom", "Billing");
    const error = await refusal(reg.edit(other.id, { name: "cRm" }));
    expect(error.code).toBe("name-taken");
    expect(error.message).toContain("unique name rule");
    expect(reg.resolve(other.id)?.name).toBe("Billing");
  });

  it("resolve finds by exact id or case-insensitive name", async () => {
    const reg = registry();
    const crm = await reg.create(connectorInput("custom", "CRM Prod"));
    expect(reg.resolve("crm prod")?.id).toBe(crm.id);
    expect(reg.resolve(crm.id)?.name).toBe("CRM Prod");
    expect(reg.resolve("nope")).toBeUndefined();
  });
});

describe("https rule", () => {
  const httpCases = [
    ["resourceDomainUrl", { resourceDomainUrl: "http://crm.example.com" }],
    ["auth.tokenUrl", { auth: { tokenUrl: "http://auth.example.com/token" } }],
  ] as const;
  for (const [field, patch] of httpCases) {
    it(`refuses plain http on a non-loopback ${field}, even with allowLoopbackHttp`, async () => {
      const reg = registry(undefined, { allowLoopbackHttp: true });
      const base = connectorInput("custom-oauth2", "CRM");
      const input = { ...base, ...patch, auth: { ...base.auth, ...("auth" in patch ? patch.auth : {}) } };
      const error = await refusal(reg.create(input));
      expect(error.code).toBe("insecure-url");
      expect(error.message).toContain(field);
    });
  }

  it("accepts loopback http without any option (whether it is used is the engine's one switch)", async () => {
    for (const host of ["127.0.0.1:8080", "127.9.9.9", "localhost:3000", "[::1]:4000"]) {
      const input = { ...connectorInput("custom", `Local ${host}`), resourceDomainUrl: `http://${host}` };
      expect((await registry().create(input)).resourceDomainUrl).toBe(`http://${host}`);
    }
  });

  it("checks overridden token URLs of other types", async () => {
    const error = await refusal(
      registry().create({ ...connectorInput("genesys", "G"), tokenUrl: "http://login.example.com/token" }),
    );
    expect(error.code).toBe("insecure-url");
  });
});

describe("lifecycle", () => {
  it("refuses an edit while active, allows it while inactive", async () => {
    const reg = registry();
    const crm = await reg.create(connectorInput("custom", "CRM"));
    const error = await refusal(reg.edit("CRM", { resourceDomainUrl: "https://crm2.example.com" }));
    expect(error.code).toBe("edit-while-active");
    expect(error.message).toContain("deactivate it first");
    await reg.deactivate(crm.id);
    const edited = await reg.edit("crm", { resourceDomainUrl: "https://crm2.example.com" });
    expect(edited).toMatchObject({
      id: crm.id,
      status: "inactive",
      resourceDomainUrl: "https://crm2.example.com",
    });
  });

  it("never changes id or type", async () => {
    const reg = registry();
    const crm = await inactive(reg, "custom", "CRM");
    expect((await refusal(reg.edit(crm.id, { id: "other" }))).code).toBe("immutable-field");
    expect((await refusal(reg.edit(crm.id, { type: "genesys" }))).code).toBe("immutable-field");
    expect((await refusal(reg.edit(crm.id, { status: "active" }))).code).toBe("immutable-field");
    expect(reg.resolve(crm.id)).toMatchObject({ id: crm.id, type: "custom" });
  });

  it("edit is a JSON merge patch; a new secret reference replaces the old one", async () => {
    const reg = registry();
    const crm = await inactive(reg, "custom-oauth2", "CRM");
    const edited = await reg.edit(crm.id, { auth: { clientSecret: { file: "secret.txt" }, scope: "a b" } });
    expect(edited).toMatchObject({
      auth: { clientSecret: { file: "secret.txt" }, scope: "a b", clientId: "flows" },
    });
    const unset = await reg.edit(crm.id, { auth: { scope: null } });
    expect(unset).not.toHaveProperty("auth.scope");
  });

  it("refuses a delete while active, deletes while inactive", async () => {
    const reg = registry();
    const crm = await reg.create(connectorInput("custom", "CRM"));
    expect((await refusal(reg.delete(crm.id))).code).toBe("delete-while-active");
    await reg.deactivate(crm.id);
    await reg.delete("crm");
    expect(reg.resolve(crm.id)).toBeUndefined();
    expect((await refusal(reg.delete(crm.id))).code).toBe("not-found");
  });

  it("does not delete a google-ccai connector a CCAI configuration uses", async () => {
    const reg = registry();
    const ccai = await inactive(reg, "google-ccai", "CCAI");
    const unused = await inactive(reg, "google-ccai", "Spare");
    const withConfig = registry(
      { ...reg.toDocument(), ccaiConfigs: [{ name: "Virtual Agent", connector: "ccai" }] },
      {},
    );
    const error = await refusal(withConfig.delete(ccai.id));
    expect(error.code).toBe("ccai-in-use");
    expect(error.message).toContain('"Virtual Agent"');
    await withConfig.delete(unused.id);
  });

  it("renaming a google-ccai connector keeps its CCAI configurations pointing at it", async () => {
    const reg = registry();
    const ccai = await inactive(reg, "google-ccai", "CCAI");
    const withConfig = registry({ ...reg.toDocument(), ccaiConfigs: [{ name: "VA", connector: "CCAI" }] });
    await withConfig.edit(ccai.id, { name: "CCAI EU" });
    expect(withConfig.ccaiConfigs()).toEqual([{ name: "VA", connector: "CCAI EU" }]);
    expect((await refusal(withConfig.delete(ccai.id))).code).toBe("ccai-in-use");
  });

  it("reactivation validates again: a failing check leaves it inactive with the server's explanation", async () => {
    let answer: Awaited<ReturnType<ConnectivityValidator>> = {
      status: "failed",
      message: "POST https://auth.example.com/oauth/token answered 401: invalid_client",
    };
    const validate: ConnectivityValidator = async () => answer;
    const reg = registry(undefined, { validate });
    const crm = await inactive(reg, "custom-oauth2", "CRM");
    const error = await refusal(reg.reactivate(crm.id));
    expect(error.code).toBe("connectivity-failed");
    expect(error.message).toContain("invalid_client");
    expect(reg.resolve(crm.id)?.status).toBe("inactive");
    answer = { status: "ok", message: "token obtained" };
    expect((await reg.reactivate(crm.id)).status).toBe("active");
  });

  it("a document with a loopback http URL opens in any registry; a non-loopback http URL in none", async () => {
    const first = registry();
    const local = await inactive(first, "custom", "Local");
    await first.edit(local.id, { resourceDomainUrl: "http://127.0.0.1:9" });
    expect((await first.reactivate(local.id)).status).toBe("active");
    expect(registry(first.toDocument()).toDocument()).toEqual(first.toDocument());
    const remote = structuredClone(first.toDocument());
    (remote.connectors.at(-1) as { resourceDomainUrl: string }).resourceDomainUrl = "http://10.0.0.9";
    expect(() => registry(remote)).toThrow(/resourceDomainUrl must start with https:\/\//);
  });

  it("validates connectivity on create only when asked, and reports types without a check", async () => {
    const results: string[] = [];
    const reg = registry();
    await reg.create(connectorInput("salesforce", "SF"), {
      validate: true,
      onConnectivity: (result) => results.push(`${result.status}: ${result.message}`),
    });
    expect(results).toEqual([
      "unavailable: connectivity not checked: flowrun can check it only for custom Basic auth with a validationUrl, not for salesforce",
    ]);
    const failing = registry(undefined, {
      validate: async () => ({ status: "failed", message: "HTTP 403" }),
    });
    await failing.create(connectorInput("custom", "No check"));
    expect(
      (await refusal(failing.create(connectorInput("custom", "Checked"), { validate: true }))).code,
    ).toBe("connectivity-failed");
    expect(failing.resolve("Checked")).toBeUndefined();
  });
});

describe("change events", () => {
  it("fire for every change, after it is visible", async () => {
    const reg = registry();
    const seen: { kind: string; status: string; visible: string | undefined }[] = [];
    const stop = reg.on("change", (change: ConnectorChange) =>
      seen.push({
        kind: change.kind,
        status: change.connector.status,
        visible: reg.resolve(change.connector.id)?.status,
      }),
    );
    const crm = await reg.create(connectorInput("custom", "CRM"));
    await reg.deactivate(crm.id);
    await reg.edit(crm.id, { resourceDomainUrl: "https://crm2.example.com" });
    await reg.reactivate(crm.id);
    await reg.deactivate(crm.id);
    await reg.delete(crm.id);
    stop();
    await reg.create(connectorInput("custom", "After"));
    expect(seen).toEqual([
      { kind: "created", status: "active", visible: "active" },
      { kind: "deactivated", status: "inactive", visible: "inactive" },
      { kind: "edited", status: "inactive", visible: "inactive" },
      { kind: "reactivated", status: "active", visible: "active" },
      { kind: "deactivated", status: "inactive", visible: "inactive" },
      { kind: "deleted", status: "inactive", visible: undefined },
    ]);
  });

  it("do not fire for refused changes, and a failing save changes nothing", async () => {
    const store = new MemoryConnectorStore();
    const reg = await ConnectorRegistry.open(store, admin);
    const crm = await reg.create(connectorInput("custom", "CRM"));
    const events: string[] = [];
    reg.on("change", (change) => events.push(change.kind));
    await refusal(reg.delete(crm.id));
    store.save = async () => {
      throw new ConnectorError("concurrent-change", "changed");
    };
    await refusal(reg.deactivate(crm.id));
    expect(reg.resolve(crm.id)?.status).toBe("active");
    expect(events).toEqual([]);
  });

  it("takes a store's loaded document as checked (validated once, by the store), also on reload", async () => {
    const fromStore = [{ path: "connectors[0]", message: "said by the store", severity: "warning" as const }];
    const store = new MemoryConnectorStore();
    store.load = async () => ({ document: { connectors: [] }, warnings: fromStore, baseDir: "/srv/conf" });
    const reg = await ConnectorRegistry.open(store, { ...admin, follow: false });
    // Checking the document again would have replaced the store's warnings with the registry's own (none).
    expect(reg.warnings).toEqual(fromStore);
    expect(reg.baseDir).toBe("/srv/conf");
    await reg.refresh();
    expect(reg.warnings).toEqual(fromStore);
  });

  it("saves every change to the store", async () => {
    const store = new MemoryConnectorStore();
    const reg = await ConnectorRegistry.open(store, admin);
    const crm = await reg.create(connectorInput("custom", "CRM"));
    await reg.deactivate(crm.id);
    expect(store.current().connectors).toEqual([expect.objectContaining({ id: crm.id, status: "inactive" })]);
  });
});

describe("request rules", () => {
  it("read-only Webex Contact Center allows only GET, HEAD, OPTIONS", async () => {
    const reg = registry();
    const readOnly = await reg.create({
      ...connectorInput("webex-contact-center", "RO"),
      access: "read-only",
    });
    const readWrite = await reg.create(connectorInput("webex-contact-center", "RW"));
    expect(allowedMethods(readOnly)).toEqual(["GET", "HEAD", "OPTIONS"]);
    expect(allowedMethods(readWrite)).toBeUndefined();
  });

  it("token expiry: statuses (default 401) and a JSON path predicate", async () => {
    const reg = registry();
    const plain = await reg.create(connectorInput("custom", "Plain"));
    const tuned = await reg.create({
      ...connectorInput("custom", "Tuned"),
      tokenExpiredStatuses: [401, 419],
      tokenExpiredWhen: "$.errors[?(@.code === 'TOKEN_EXPIRED')]",
    });
    expect(isTokenExpired(plain, { status: 401, json: undefined })).toBe(true);
    expect(isTokenExpired(plain, { status: 419, json: undefined })).toBe(false);
    expect(isTokenExpired(tuned, { status: 419, json: undefined })).toBe(true);
    expect(isTokenExpired(tuned, { status: 200, json: { errors: [{ code: "TOKEN_EXPIRED" }] } })).toBe(true);
    expect(isTokenExpired(tuned, { status: 200, json: { errors: [{ code: "OTHER" }] } })).toBe(false);
    expect(
      (await refusal(reg.create({ ...connectorInput("custom", "Bad"), tokenExpiredWhen: "errors" }))).message,
    ).toContain("$.tokenExpiredWhen");
  });
});
