import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConnectorInput, httpTraceOf, type RunResult } from "../../src/index.js";
import { rsaKeyPair } from "../helpers/auth.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { startTokenServer, type TokenServer, tokenAnswer } from "../helpers/token-server.js";
import { answer, apiOk, leakedSecrets, withEngine } from "./harness.js";

/**
 * No trace, result or error message carries a secret or its base64: every connector type is used by one flow, on
 * a good day and on a bad one, and JSON.stringify(result) is scanned for the real values the servers received.
 */

const keys = rsaKeyPair();
let api: LoopbackServer;
let tokens: TokenServer;
let env: Record<string, string>;
const issued: string[] = [];

beforeAll(async () => {
  api = await startHttpServer(apiOk);
  tokens = await startTokenServer({
    fallback: (request) => {
      const token = `access-${request.path.slice(1).replace(/\W/g, "-")}-${tokens.requests.length}-zq81`;
      issued.push(token);
      return tokenAnswer({
        access_token: token,
        refresh_token: `rotated-refresh-${tokens.requests.length}-kx`,
        ...(request.path === "/sf/services/oauth2/token" ? { instance_url: api.url } : {}),
      });
    },
  });
  env = {
    BASIC_PASSWORD: "basic-Pa55-w0rd",
    CLIENT_SECRET: "client-S3cret-77",
    OWNER_PASSWORD: "owner-Pa55-99",
    REFRESH_TOKEN: "refresh-T0ken-abc",
    API_KEY: "wxm-api-KEY-123",
    SF_KEY: keys.privateKey,
    GOOGLE_KEY: JSON.stringify({
      client_email: "tts@p.iam.gserviceaccount.com",
      private_key: keys.privateKey,
      token_uri: tokens.url("/google/token"),
    }),
  };
});
afterAll(async () => {
  await tokens.close();
  await closeAllServers();
});

function connectors(): ConnectorInput[] {
  const oauth = (grantType: string, extra: Record<string, unknown> = {}) => ({
    type: "oauth2",
    grantType,
    clientId: "flows",
    clientSecret: { env: "CLIENT_SECRET" },
    tokenUrl: tokens.url(`/${grantType}/token`),
    ...extra,
  });
  return [
    {
      name: "Basic",
      type: "custom",
      resourceDomainUrl: api.url,
      auth: { type: "basic", username: "flows", password: { env: "BASIC_PASSWORD" } },
    },
    { name: "Client", type: "custom", resourceDomainUrl: api.url, auth: oauth("client_credentials") },
    {
      name: "Owner",
      type: "custom",
      resourceDomainUrl: api.url,
      auth: oauth("password", { username: "agent", password: { env: "OWNER_PASSWORD" }, clientAuth: "body" }),
    },
    {
      name: "Webex",
      type: "webex-contact-center",
      access: "read-write",
      clientId: "c",
      clientSecret: { env: "CLIENT_SECRET" },
      refreshToken: { env: "REFRESH_TOKEN" },
      tokenUrl: tokens.url("/webex/token"),
      resourceDomainUrl: api.url,
    },
    {
      name: "Salesforce",
      type: "salesforce",
      clientId: "consumer",
      username: "u@example.com",
      authServerUrl: tokens.url("/sf"),
      privateKey: { env: "SF_KEY" },
    },
    { name: "Google", type: "google", serviceAccountKey: { env: "GOOGLE_KEY" }, resourceDomainUrl: api.url },
    {
      name: "CCAI",
      type: "google-ccai",
      clientId: "c",
      clientSecret: { env: "CLIENT_SECRET" },
      refreshToken: { env: "REFRESH_TOKEN" },
      project: "p",
      serviceAccount: "s@p.iam.gserviceaccount.com",
      tokenUrl: tokens.url("/ccai/token"),
      resourceDomainUrl: api.url,
    },
    {
      name: "WXM",
      type: "webex-experience-management",
      username: "surveys",
      apiKey: { env: "API_KEY" },
      resourceDomainUrl: api.url,
      tokenUrl: tokens.url("/wxm/token"),
    },
    {
      name: "Genesys",
      type: "genesys",
      environment: "mypurecloud.com",
      grant: "authorization_code",
      clientId: "g",
      clientSecret: { env: "CLIENT_SECRET" },
      refreshToken: { env: "REFRESH_TOKEN" },
      tokenUrl: tokens.url("/genesys/token"),
      resourceDomainUrl: api.url,
    },
  ].map((connector, index) => ({ id: `c-${index}`, ...connector }) as ConnectorInput);
}

/** One http-request activity per connector, in a chain; every outcome goes on to the next. */
function everyConnectorFlow(names: string[]): Record<string, unknown> {
  const activities: Record<string, unknown> = {};
  names.forEach((name, index) => {
    const next = index + 1 < names.length ? `call${index + 1}` : "end";
    activities[`call${index}`] = {
      type: "http-request",
      connector: name,
      requestPath: "/data",
      queryParameters: { who: name },
      next: { success: next, error: next, timeout: next },
    };
  });
  activities.end = { type: "end-flow" };
  return { name: "every-connector", variables: {}, start: "call0", activities };
}

/** Every secret value the servers saw, plus the configured ones. */
function secretsSeen(): string[] {
  const seen = new Set<string>([...Object.values(env), ...issued]);
  for (const request of tokens.requests) {
    for (const [name, value] of Object.entries(request.form))
      if (!["grant_type", "client_id", "username", "scope"].includes(name)) seen.add(value);
    const header = request.headers.authorization;
    if (header) seen.add(header.slice(header.indexOf(" ") + 1));
  }
  for (const request of api.received) {
    const header = request.headers.authorization;
    if (header) seen.add(header.slice(header.indexOf(" ") + 1));
  }
  return [...seen];
}

async function runAll(): Promise<RunResult> {
  const list = connectors();
  return withEngine(list, { secrets: { env }, onWarning: () => {} }, async (engine) => {
    const result = await engine.compile(everyConnectorFlow(list.map((connector) => connector.name))).run();
    expect(result.status).toBe("completed");
    expect(result.trace).toHaveLength(list.length + 1);
    return result;
  });
}

describe("secrets never leave the servers they were sent to", () => {
  it("successful runs: traces show [REDACTED] authorization, no secret value or base64 anywhere", async () => {
    const result = await runAll();
    for (const entry of result.trace.slice(0, -1)) {
      expect(entry.outcome, entry.activity).toBe("success");
      expect(httpTraceOf(entry)?.requestHeaders.authorization).toBe("[REDACTED]");
    }
    const secrets = secretsSeen();
    expect(secrets.length).toBeGreaterThan(15);
    expect(leakedSecrets(JSON.stringify(result), secrets)).toEqual([]);
  });

  it("failing runs (API 401 twice, then 500 echoing nothing secret): errors carry no secret either", async () => {
    api.handle((request, response) => {
      if (request.headers.authorization?.startsWith("Basic ")) answer(response, 500, { error: "down" });
      else answer(response, 401, { error: "expired" });
    });
    const result = await runAll();
    for (const entry of result.trace.slice(0, -1)) expect(entry.outcome, entry.activity).toBe("error");
    expect(result.trace.slice(0, -1).map((entry) => entry.error?.kind)).toEqual([
      "http-status",
      ...Array.from({ length: 8 }, () => "auth"),
    ]);
    expect(leakedSecrets(JSON.stringify(result), secretsSeen())).toEqual([]);
  });
});
