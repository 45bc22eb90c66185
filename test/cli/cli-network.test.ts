import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createProxy, type ProxyServer } from "proxy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ecPrivateKeyPem, selfSignedCertificate } from "../helpers/certificates.js";
import { cli } from "../helpers/cli.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { envWithoutSecrets, tempDir, writeHelpdeskConnectors, writeJson } from "../replay/helpers.js";

/** The CLI with the enterprise-network fields: connectors add/edit/show/list, and record through a proxy. */

const PROXY_PASSWORD = "cli-Pr0xy-pass";
let api: LoopbackServer;
let proxy: ProxyServer & { url: string; tunnels: string[] };

beforeAll(async () => {
  api = await startHttpServer((request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(
      request.url === "/oauth/token"
        ? JSON.stringify({ access_token: "at-cli", expires_in: 3600 })
        : JSON.stringify({ tickets: [{ id: "T-1", status: "open" }] }),
    );
  });
  proxy = createProxy(http.createServer()) as typeof proxy;
  proxy.tunnels = [];
  proxy.on("connect", (request: http.IncomingMessage) => proxy.tunnels.push(request.url ?? ""));
  proxy.authenticate = (request) =>
    request.headers["proxy-authorization"] ===
    `Basic ${Buffer.from(`rec:${PROXY_PASSWORD}`).toString("base64")}`;
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await closeAllServers();
  proxy.closeAllConnections();
  await new Promise((resolve) => proxy.close(resolve));
});

const connectors = (dir: string, args: string[], stdin?: string, env = envWithoutSecrets()) =>
  cli(["connectors", ...args, "--file", "connectors.json", "--allow-loopback-http"], {
    cwd: dir,
    stdin,
    env,
  });

describe("connectors add/edit/show/list with proxy, tls and client authentication", () => {
  it("adds and edits the new fields, masks their secrets, and warns of a certificate near its end", async () => {
    const dir = await tempDir("flowrun-cli-net-");
    await writeJson(path.join(dir, "connectors.json"), { connectors: [] });
    const client = selfSignedCertificate("flows", 5);
    await writeFile(path.join(dir, "client.key"), client.key);
    await writeFile(path.join(dir, "client.pem"), client.cert);
    const added = await connectors(dir, [
      "add",
      "--type",
      "custom",
      "--name",
      "Bank",
      "--set",
      "resourceDomainUrl=https://bank.example.com",
      "--set-json",
      'auth={"type":"oauth2","clientId":"flows","clientAuth":"private_key_jwt","privateKey":{"file":"client.key"},"signingAlg":"PS256","keyId":"k1","tokenUrl":"https://bank.example.com/token"}',
      "--set-json",
      'tls={"cert":{"file":"client.pem"},"key":{"file":"client.key"}}',
      "--set",
      "proxy.url=http://proxy.corp.example:3128",
      "--set",
      "proxy.username=flows",
      "--set-json",
      'proxy.password={"env":"PROXY_PASSWORD"}',
      "--set-json",
      "strictTokenType=true",
    ]);
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    const shown = JSON.parse((await connectors(dir, ["show", "Bank"])).stdout);
    expect(shown.proxy).toEqual({
      url: "http://proxy.corp.example:3128",
      username: "flows",
      password: "env:PROXY_PASSWORD",
    });
    expect(shown.tls).toEqual({ cert: "file:client.pem", key: "file:client.key" });
    expect(shown.auth.privateKey).toBe("file:client.key");
    expect(shown.strictTokenType).toBe(true);

    const listed = await connectors(dir, ["list"]);
    expect(listed.stdout).toContain("Bank");
    expect(listed.stderr).toMatch(
      /warning: connector "Bank": the client certificate \(tls\.cert\) expires on .*, in [45] days/,
    );

    expect((await connectors(dir, ["deactivate", "Bank"])).code).toBe(0);
    const edited = await connectors(dir, [
      "edit",
      "Bank",
      "--unset",
      "proxy",
      "--set",
      "auth.clientAuth=tls_client_auth",
    ]);
    expect(edited.code).toBe(0);
    const stored = JSON.parse(await readFile(path.join(dir, "connectors.json"), "utf8"));
    expect(stored.connectors[0].proxy).toBeUndefined();
    expect(stored.connectors[0].auth.clientAuth).toBe("tls_client_auth");
  });

  it.each([
    [["--set", "proxy.url=http://u:p@proxy.corp.example:3128"], "must not carry credentials"],
    [["--set-json", 'tls={"cert":{"file":"c.pem"}}'], "cert and key go together"],
    [
      [
        "--set-json",
        'auth={"type":"oauth2","clientId":"f","clientAuth":"private_key_jwt","tokenUrl":"https://b.example/t"}',
      ],
      "private_key_jwt needs a privateKey",
    ],
    [
      [
        "--set-json",
        'auth={"type":"oauth2","clientId":"f","clientAuth":"tls_client_auth","tokenUrl":"https://b.example/t"}',
      ],
      "needs the connector's tls.cert and tls.key",
    ],
  ])("refuses %j with a message that says where and what", async (flags, message) => {
    const dir = await tempDir("flowrun-cli-net-");
    await writeJson(path.join(dir, "connectors.json"), { connectors: [] });
    const base = ["add", "--type", "custom", "--name", "X", "--set", "resourceDomainUrl=https://b.example"];
    const withAuth = flags.some((flag) => flag.startsWith("auth="))
      ? base
      : [...base, "--set-json", 'auth={"type":"basic","username":"u","password":{"env":"P"}}'];
    const result = await connectors(dir, [...withAuth, ...flags]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain("    at ");
  });
});

/** A flow that looks a ticket up through the connector "Helpdesk". */
const LOOKUP_FLOW = {
  name: "lookup",
  variables: { id: { type: "string" } },
  start: "find",
  activities: {
    find: {
      type: "http-request",
      connector: "Helpdesk",
      requestPath: "/api/tickets",
      parseSettings: [{ outputVariable: "id", pathExpression: "$.tickets[0].id" }],
      next: { success: "end", error: "end" },
    },
    end: { type: "end-flow" },
  },
};

/** `flowrun record lookup.flow.json` into lookup.test.json, with connectors.json, in `dir`. */
const recordLookup = (dir: string, env: NodeJS.ProcessEnv, caseName: string) =>
  cli(
    [
      "record",
      "lookup.flow.json",
      "--case",
      caseName,
      "--out",
      "lookup.test.json",
      "--connectors",
      "connectors.json",
      "--allow-loopback-http",
    ],
    { cwd: dir, env },
  );

describe("record through a proxy", () => {
  it("records via HTTP_PROXY (credentials in its URL), the recording replays, and the proxy password is in no output", async () => {
    const dir = await tempDir("flowrun-cli-net-");
    await writeHelpdeskConnectors(dir, api.url, { id: "rec", secretEnv: "REC_SECRET" });
    await writeJson(path.join(dir, "lookup.flow.json"), LOOKUP_FLOW);
    const proxyUrl = proxy.url.replace("http://", `http://rec:${PROXY_PASSWORD}@`);
    const env = envWithoutSecrets({ REC_SECRET: "s", HTTP_PROXY: proxyUrl });
    const recorded = await recordLookup(dir, env, "via proxy");
    expect(recorded.code).toBe(0);
    expect(proxy.tunnels).toContain(new URL(api.url).host);
    const file = await readFile(path.join(dir, "lookup.test.json"), "utf8");
    for (const text of [recorded.stdout, recorded.stderr, file]) {
      expect(text).not.toContain(PROXY_PASSWORD);
      expect(text).not.toContain(Buffer.from(`rec:${PROXY_PASSWORD}`).toString("base64"));
    }
    const replayed = await cli(["test", "lookup.test.json"], { cwd: dir, env: envWithoutSecrets() });
    expect(replayed.stdout).toContain("1 passed");
    expect(replayed.code).toBe(0);
  });
});

describe("record and replay a connector with private_key_jwt (ES256) and a client certificate", () => {
  it("replays without the key, the certificate or the passphrase (CI holds none of them)", async () => {
    const dir = await tempDir("flowrun-cli-net-");
    const certificate = selfSignedCertificate("flows", 60);
    const signingKey = ecPrivateKeyPem();
    await writeJson(path.join(dir, "connectors.json"), {
      connectors: [
        {
          id: "7d4e1c2a-0000-4000-8000-000000000002",
          name: "Helpdesk",
          type: "custom",
          status: "active",
          resourceDomainUrl: api.url,
          tls: { cert: { env: "CERT" }, key: { env: "CERT_KEY" } },
          auth: {
            type: "oauth2",
            clientId: "rec",
            clientAuth: "private_key_jwt",
            privateKey: { env: "SIGNING_KEY" },
            signingAlg: "ES256",
            tokenUrl: `${api.url}/oauth/token`,
          },
        },
      ],
    });
    await writeJson(path.join(dir, "lookup.flow.json"), LOOKUP_FLOW);
    const env = envWithoutSecrets({
      CERT: certificate.cert,
      CERT_KEY: certificate.key,
      SIGNING_KEY: signingKey,
    });
    const recorded = await recordLookup(dir, env, "jwt");
    expect(recorded.stderr).toBe("");
    expect(recorded.code).toBe(0);
    const file = await readFile(path.join(dir, "lookup.test.json"), "utf8");
    expect(file).toContain("client_assertion_type");
    expect(file).not.toMatch(/eyJ[\w-]+\.eyJ/); // no signed assertion kept
    const replayed = await cli(["test", "lookup.test.json"], { cwd: dir, env: envWithoutSecrets() });
    expect(replayed.stdout).toContain("1 passed");
    expect(replayed.code).toBe(0);
  });
});
