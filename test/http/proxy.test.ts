import http from "node:http";
import type { AddressInfo } from "node:net";
import { createProxy, type ProxyServer } from "proxy";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createBasicAuthValidator } from "../../src/connectors/connectivity.js";
import type { Connector, ConnectorInput } from "../../src/connectors/schema.js";
import { proxyEnvironment } from "../../src/http/proxy.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { connectorsDoc, memoryRegistry } from "../auth-e2e/harness.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/certificates.js";
import { runHttp } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, startHttpsServer } from "../helpers/servers.js";
import { installTelemetry } from "../helpers/telemetry.js";
import { closedPort } from "../helpers/token-server.js";

/** Outbound proxies: a real forward proxy (CONNECT tunnels, Basic proxy auth) on loopback. */

const PROXY_PASSWORD = "pr0xy-Pa55!word";
let tls: TestCertificates;
let api: LoopbackServer;
let proxy: ProxyServer & { url: string; tunnels: string[]; auths: (string | undefined)[] };
let authProxy: typeof proxy;

async function startProxy(requireAuth: boolean): Promise<typeof proxy> {
  const server = createProxy(http.createServer()) as typeof proxy;
  server.tunnels = [];
  server.auths = [];
  server.on("connect", (request: http.IncomingMessage) => {
    server.tunnels.push(request.url ?? "");
  });
  if (requireAuth) {
    server.authenticate = (request) => {
      const header = request.headers["proxy-authorization"];
      server.auths.push(header);
      return header === `Basic ${Buffer.from(`flows:${PROXY_PASSWORD}`).toString("base64")}`;
    };
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return server;
}

beforeAll(async () => {
  tls = makeTestCertificates();
  api = await startHttpsServer(tls, (request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(
      request.url === "/token"
        ? JSON.stringify({ access_token: "t-1", token_type: "Bearer", expires_in: 3600 })
        : JSON.stringify({ ok: true }),
    );
  });
  proxy = await startProxy(false);
  authProxy = await startProxy(true);
});
afterAll(async () => {
  await closeAllServers();
  for (const server of [proxy, authProxy]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
beforeEach(() => {
  for (const server of [proxy, authProxy]) {
    server.tunnels.length = 0;
    server.auths.length = 0;
  }
  api.received.length = 0;
});

const apiHost = () => new URL(api.url).host;

function crm(extra: Partial<ConnectorInput> = {}): ConnectorInput {
  return {
    id: "c-proxy",
    name: "CRM",
    type: "custom",
    resourceDomainUrl: api.url,
    auth: { type: "oauth2", clientId: "flows", clientSecret: "s", tokenUrl: `${api.url}/token` },
    ...extra,
  } as ConnectorInput;
}

const viaConnector = { connector: "CRM", requestPath: "/v1/items", timeoutMs: 4000 };

function connectorOptions(connector: ConnectorInput, proxyEnv: Record<string, string>) {
  return {
    ca: tls.ca,
    proxyEnv,
    connectors: memoryRegistry(connectorsDoc(connector)),
    secrets: { env: { PROXY_PASSWORD } },
  };
}

describe("the environment's proxy", () => {
  it("HTTPS_PROXY: the token request and the API call both go through CONNECT tunnels", async () => {
    const run = await runHttp(connectorOptions(crm(), { HTTPS_PROXY: proxy.url }), viaConnector);
    expect(run.outputs.statusCode).toBe(200);
    expect(run.http.tokenFetched).toBe(true);
    expect(proxy.tunnels.length).toBeGreaterThanOrEqual(1);
    expect(new Set(proxy.tunnels)).toEqual(new Set([apiHost()]));
    expect(api.received.map((request) => request.url)).toEqual(["/token", "/v1/items"]);
  });

  it.each([
    ["NO_PROXY", { NO_PROXY: "127.0.0.1" }],
    ["no_proxy with the port", { no_proxy: "example.com, 127.0.0.1:PORT" }],
    ["NO_PROXY *", { NO_PROXY: "*" }],
  ])("%s sends direct", async (_name, noProxy) => {
    const env: Record<string, string> = { https_proxy: proxy.url };
    for (const [key, value] of Object.entries(noProxy))
      env[key] = value.replace("PORT", String(new URL(api.url).port));
    const run = await runHttp(connectorOptions(crm(), env), viaConnector);
    expect(run.outputs.statusCode).toBe(200);
    expect(proxy.tunnels).toEqual([]);
  });

  it("NO_PROXY for another port still proxies; a suffix entry does not match other hosts", async () => {
    const env = { HTTPS_PROXY: proxy.url, NO_PROXY: `127.0.0.1:${await closedPort()},.example.com` };
    const run = await runHttp(connectorOptions(crm(), env), viaConnector);
    expect(run.outputs.statusCode).toBe(200);
    expect(proxy.tunnels.length).toBeGreaterThanOrEqual(1);
  });

  it("a proxy variable that is not a URL is a clear error naming it, never quoting its credentials", () => {
    const attempt = () => createEngine({ proxyEnv: { HTTPS_PROXY: "http://u:s3cret-pw@[bad" } });
    expect(attempt).toThrow("HTTPS_PROXY: the proxy URL is not a URL");
    expect(attempt).not.toThrow(/s3cret-pw/);
  });

  it("lower case wins over upper case, as curl reads them", () => {
    expect(proxyEnvironment({ https_proxy: "http://a:1", HTTPS_PROXY: "http://b:2" }).httpsProxy).toBe(
      "http://a:1",
    );
    expect(proxyEnvironment({ NO_PROXY: "x" }).noProxy).toBe("x");
    expect(proxyEnvironment({ HTTP_PROXY: "proxy.corp.example:3128" }).httpProxy).toBe(
      "http://proxy.corp.example:3128",
    );
  });
});

describe("a connector's own proxy", () => {
  it("overrides the environment and authenticates with Basic proxy credentials from a secret reference", async () => {
    const connector = crm({
      proxy: { url: authProxy.url, username: "flows", password: { env: "PROXY_PASSWORD" } },
    } as Partial<ConnectorInput>);
    // The environment names a proxy that does not listen: a request that used it would fail.
    const run = await runHttp(
      connectorOptions(connector, { HTTPS_PROXY: `http://127.0.0.1:${await closedPort()}` }),
      viaConnector,
    );
    expect(run.outputs.statusCode).toBe(200);
    expect(authProxy.tunnels.length).toBeGreaterThanOrEqual(1);
    expect(authProxy.auths.every((header) => header?.startsWith("Basic "))).toBe(true);
    expect(api.received.some((request) => "proxy-authorization" in request.headers)).toBe(false);
  });

  it("a refused proxy login fails the call, and the proxy password appears nowhere in the result", async () => {
    const connector = crm({
      proxy: { url: authProxy.url, username: "flows", password: { env: "WRONG" } },
    } as Partial<ConnectorInput>);
    const options = connectorOptions(connector, {});
    const run = await runHttp(
      { ...options, secrets: { env: { WRONG: `${PROXY_PASSWORD}-not` } } },
      viaConnector,
    );
    expect(run.outputs.statusCode).toBeNull();
    expect(run.outputs.error?.kind).toBe("auth");
    expect(run.outputs.error?.message).toContain("the proxy refused its credentials (HTTP 407");
    // The refused tunnel carried nothing to the token endpoint: not "after sending", so a refresh token would be
    // neither called spent nor kept from a retry.
    expect(run.outputs.error?.message).toContain("could not reach");
    expect(api.received).toEqual([]);
    const everything = JSON.stringify(run.result);
    expect(everything).not.toContain(PROXY_PASSWORD);
    expect(everything).not.toContain(Buffer.from(`flows:${PROXY_PASSWORD}-not`).toString("base64"));
  });

  it("an API call (no token) refused by the proxy says so in words", async () => {
    const connector = crm({
      auth: { type: "basic", username: "u", password: "p" },
      proxy: { url: authProxy.url, username: "flows", password: "not-it" },
    } as Partial<ConnectorInput>);
    const run = await runHttp(connectorOptions(connector, {}), viaConnector);
    expect(run.outputs.error?.kind).toBe("network");
    expect(run.outputs.error?.message).toContain("the proxy refused its credentials (HTTP 407");
    expect(api.received).toEqual([]);
  });
});

describe("the egress policy through a proxy", () => {
  const flowUrl = (host: string) => ({
    useAuthenticatedEndpoint: false,
    requestUrl: `https://${host}:${new URL(api.url).port}/flow`,
    timeoutMs: 4000,
  });

  it("a flow-authored URL to a refused target is refused before the proxy sees it", async () => {
    const run = await runHttp({ ca: tls.ca, proxyEnv: { HTTPS_PROXY: proxy.url } }, flowUrl("127.0.0.1"));
    expect(run.outputs.error?.kind).toBe("egress-denied");
    expect(proxy.tunnels).toEqual([]);
  });

  it("an allowed target through a proxy the policy refuses is refused too; allowing the proxy lets it through", async () => {
    const refused = await runHttp(
      { ca: tls.ca, proxyEnv: { HTTPS_PROXY: proxy.url }, egressAllow: ["localhost"] },
      flowUrl("localhost"),
    );
    expect(refused.outputs.error?.kind).toBe("egress-denied");
    expect(refused.outputs.error?.message).toContain(`proxy ${proxy.url}`);
    expect(proxy.tunnels).toEqual([]);
    const allowed = await runHttp(
      { ca: tls.ca, proxyEnv: { HTTPS_PROXY: proxy.url }, egressAllow: ["localhost", "127.0.0.1"] },
      flowUrl("localhost"),
    );
    expect(allowed.outputs.statusCode).toBe(200);
    expect(proxy.tunnels).toEqual([`localhost:${new URL(api.url).port}`]);
  });
});

describe("connectivity checks", () => {
  it("a --validate check goes through the environment's proxy, then through the connector's own", async () => {
    const connector = {
      id: "c-basic",
      name: "Billing",
      type: "custom",
      status: "active",
      resourceDomainUrl: api.url,
      auth: { type: "basic", username: "u", password: "p", validationUrl: `${api.url}/ping` },
      tls: { ca: tls.ca },
    } as unknown as Connector;
    const viaEnvironment = createBasicAuthValidator({ env: { HTTPS_PROXY: proxy.url }, baseDir: "." });
    expect(await viaEnvironment(connector)).toMatchObject({ status: "ok" });
    expect(proxy.tunnels).toEqual([apiHost()]);
    const own = {
      ...connector,
      proxy: { url: authProxy.url, username: "flows", password: { env: "PROXY_PASSWORD" } },
    } as Connector;
    const viaConnector = createBasicAuthValidator({ env: { PROXY_PASSWORD }, baseDir: "." });
    expect(await viaConnector(own)).toMatchObject({ status: "ok" });
    expect(authProxy.tunnels).toEqual([apiHost()]);
  });
});

describe("telemetry through a proxy", () => {
  it("token fetch and HTTP spans are recorded as without a proxy, and carry no proxy credential", async () => {
    const installed = installTelemetry();
    try {
      const connector = crm({
        proxy: { url: authProxy.url, username: "flows", password: { env: "PROXY_PASSWORD" } },
      } as Partial<ConnectorInput>);
      const run = await runHttp(connectorOptions(connector, {}), viaConnector);
      expect(run.outputs.statusCode).toBe(200);
      const spans = installed.spans();
      expect(spans.map((span) => span.name)).toContain("flowrun.token.fetch");
      const attempts = spans.filter((span) => span.attributes["http.response.status_code"] === 200);
      expect(attempts.length).toBeGreaterThanOrEqual(1);
      expect(attempts.every((span) => span.attributes["server.address"] === "127.0.0.1")).toBe(true);
      const everything = JSON.stringify(spans.map((span) => [span.name, span.attributes, span.events]));
      expect(everything).not.toContain(PROXY_PASSWORD);
      expect(everything).not.toContain(Buffer.from(`flows:${PROXY_PASSWORD}`).toString("base64"));
    } finally {
      await installed.uninstall();
    }
  });
});
