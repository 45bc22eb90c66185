import { createPublicKey } from "node:crypto";
import { jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectorInput } from "../../src/index.js";
import { rsaKeyPair } from "../helpers/auth.js";
import { startHttpServer } from "../helpers/servers.js";
import {
  decodeClientBasic,
  type RecordedRequest,
  startTokenServer,
  type TokenServer,
  tokenAnswer,
} from "../helpers/token-server.js";
import {
  answer,
  apiOk,
  bearerOf,
  httpTrace,
  leakedSecrets,
  oneCallFlow,
  outputsOf,
  useApiServer,
  withEngine,
} from "./harness.js";

/** Each connector type authorises a flow's request end to end, against loopback servers that check. */

const api = useApiServer();
let tokens: TokenServer;
afterEach(async () => {
  await tokens?.close();
});

const ENV = {
  CLIENT_SECRET: "cl1ent-S3cret/with+chars",
  USER_PASSWORD: "us3r-Pa55word!",
  REFRESH_TOKEN: "r3fresh-T0ken-original",
  API_KEY: "wxm-Ap1-Key-9f8e7d",
};

/** Runs a GET through `connector` and returns the result; the run must complete. */
async function runThrough(connector: ConnectorInput, env: Record<string, string> = ENV, method = "GET") {
  return withEngine(connector, { secrets: { env } }, async (engine) => {
    const result = await engine
      .compile(
        oneCallFlow({
          connector: connector.name,
          requestPath: "/v1/items",
          method,
          ...(method === "POST" ? { body: { a: 1 } } : {}),
        }),
      )
      .run();
    expect(result.status).toBe("completed");
    return result;
  });
}

function expectForm(request: RecordedRequest, fields: Record<string, string>): void {
  expect(request.method).toBe("POST");
  expect(request.headers["content-type"]).toContain("application/x-www-form-urlencoded");
  for (const [name, value] of Object.entries(fields)) expect(request.form[name], name).toBe(value);
}

describe("custom connector", () => {
  it("basic: the API sees Authorization: Basic with the user and password; no token request", async () => {
    tokens = await startTokenServer();
    const result = await runThrough({
      id: "c-basic",
      name: "Billing",
      type: "custom",
      resourceDomainUrl: api.url,
      auth: { type: "basic", username: "flows", password: { env: "USER_PASSWORD" } },
    } as ConnectorInput);
    expect(outputsOf(result).statusCode).toBe(200);
    expect(api.received).toHaveLength(1);
    expect(api.received[0]?.url).toBe("/v1/items");
    expect(api.received[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from(`flows:${ENV.USER_PASSWORD}`).toString("base64")}`,
    );
    expect(tokens.requests).toHaveLength(0);
    expect(leakedSecrets(JSON.stringify(result), Object.values(ENV))).toEqual([]);
  });

  it("client_credentials with Basic client auth: grant, scope and client checked at the token server", async () => {
    tokens = await startTokenServer({
      fallback: (request) => {
        expectForm(request, { grant_type: "client_credentials", scope: "accounts.read" });
        expect(decodeClientBasic(request.headers.authorization)).toEqual({
          id: "flows",
          secret: ENV.CLIENT_SECRET,
        });
        expect(request.form.client_secret).toBeUndefined();
        return tokenAnswer({ access_token: "cc-basic-token" });
      },
    });
    const result = await runThrough({
      id: "c-cc",
      name: "CRM",
      type: "custom",
      resourceDomainUrl: api.url,
      auth: {
        type: "oauth2",
        clientId: "flows",
        clientSecret: { env: "CLIENT_SECRET" },
        tokenUrl: tokens.url(),
        scope: "accounts.read",
      },
    } as ConnectorInput);
    expect(tokens.checkFailures).toEqual([]);
    expect(tokens.requests).toHaveLength(1);
    expect(api.received.map(bearerOf)).toEqual(["cc-basic-token"]);
    expect(httpTrace(result).tokenFetched).toBe(true);
    expect(leakedSecrets(JSON.stringify(result), [...Object.values(ENV), "cc-basic-token"])).toEqual([]);
  });

  it("client_credentials with body client auth: client_id and client_secret in the form, no Basic header", async () => {
    tokens = await startTokenServer({
      fallback: (request) => {
        expectForm(request, {
          grant_type: "client_credentials",
          client_id: "flows",
          client_secret: ENV.CLIENT_SECRET,
        });
        expect(request.headers.authorization).toBeUndefined();
        return tokenAnswer({ access_token: "cc-body-token" });
      },
    });
    await runThrough({
      id: "c-cc-body",
      name: "CRM",
      type: "custom",
      resourceDomainUrl: api.url,
      auth: {
        type: "oauth2",
        grantType: "client_credentials",
        clientId: "flows",
        clientSecret: { env: "CLIENT_SECRET" },
        tokenUrl: tokens.url(),
        clientAuth: "body",
      },
    } as ConnectorInput);
    expect(tokens.checkFailures).toEqual([]);
    expect(api.received.map(bearerOf)).toEqual(["cc-body-token"]);
  });

  it("password grant: username and password in the form, client by Basic header", async () => {
    tokens = await startTokenServer({
      fallback: (request) => {
        expectForm(request, { grant_type: "password", username: "agent-7", password: ENV.USER_PASSWORD });
        expect(decodeClientBasic(request.headers.authorization)).toEqual({
          id: "flows",
          secret: ENV.CLIENT_SECRET,
        });
        return tokenAnswer({ access_token: "password-grant-token" });
      },
    });
    await runThrough({
      id: "c-pw",
      name: "CRM",
      type: "custom",
      resourceDomainUrl: api.url,
      auth: {
        type: "oauth2",
        grantType: "password",
        clientId: "flows",
        clientSecret: { env: "CLIENT_SECRET" },
        tokenUrl: tokens.url(),
        username: "agent-7",
        password: { env: "USER_PASSWORD" },
      },
    } as ConnectorInput);
    expect(tokens.checkFailures).toEqual([]);
    expect(api.received.map(bearerOf)).toEqual(["password-grant-token"]);
  });
});

describe("webex-contact-center", () => {
  const webex = (access: "read-only" | "read-write"): ConnectorInput =>
    ({
      id: "c-wxcc",
      name: "Webex CC",
      type: "webex-contact-center",
      access,
      clientId: "C0ffee1234",
      clientSecret: { env: "CLIENT_SECRET" },
      refreshToken: { env: "REFRESH_TOKEN" },
      tokenUrl: tokens.url("/v1/access_token"),
      resourceDomainUrl: api.url,
    }) as ConnectorInput;

  it("refresh-token grant with the client in the form body", async () => {
    tokens = await startTokenServer({
      fallback: (request) => {
        expect(request.path).toBe("/v1/access_token");
        expectForm(request, {
          grant_type: "refresh_token",
          refresh_token: ENV.REFRESH_TOKEN,
          client_id: "C0ffee1234",
          client_secret: ENV.CLIENT_SECRET,
        });
        expect(request.headers.authorization).toBeUndefined();
        return tokenAnswer({ access_token: "wxcc-token", refresh_token: ENV.REFRESH_TOKEN });
      },
    });
    await runThrough(webex("read-write"));
    expect(tokens.checkFailures).toEqual([]);
    expect(api.received.map(bearerOf)).toEqual(["wxcc-token"]);
  });

  it("read-only: a POST fails method-not-allowed and neither server receives anything; GET still works", async () => {
    tokens = await startTokenServer();
    const result = await runThrough(webex("read-only"), ENV, "POST");
    expect(outputsOf(result).error?.kind).toBe("method-not-allowed");
    expect(tokens.requests).toHaveLength(0);
    expect(api.received).toHaveLength(0);
    await runThrough(webex("read-only"), ENV, "GET");
    expect(tokens.requests).toHaveLength(1);
    expect(api.received).toHaveLength(1);
  });
});

describe("salesforce", () => {
  it("JWT bearer: the token server verifies the assertion; requests go to the instance_url it named", async () => {
    const keys = rsaKeyPair();
    const instance = await startHttpServer(apiOk);
    const publicKey = createPublicKey(keys.publicKey);
    let lifetime = Number.NaN;
    tokens = await startTokenServer({
      fallback: async (request) => {
        expect(request.path).toBe("/services/oauth2/token");
        expectForm(request, { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer" });
        const { payload, protectedHeader } = await jwtVerify(request.form.assertion ?? "", publicKey, {
          issuer: "3MVG9consumerkey",
          subject: "integration@example.com",
          audience: tokens.origin,
        });
        expect(protectedHeader.alg).toBe("RS256");
        lifetime = (payload.exp ?? 0) - (payload.iat ?? 0);
        // Salesforce answers no expires_in.
        return {
          json: { access_token: "sf-token", token_type: "Bearer", instance_url: instance.url, id: "x" },
        };
      },
    });
    const result = await runThrough(
      {
        id: "c-sf",
        name: "Salesforce",
        type: "salesforce",
        clientId: "3MVG9consumerkey",
        username: "integration@example.com",
        authServerUrl: tokens.origin,
        privateKey: { env: "SF_KEY" },
      } as ConnectorInput,
      { SF_KEY: keys.privateKey },
    );
    expect(tokens.checkFailures).toEqual([]);
    expect(tokens.requests).toHaveLength(1);
    expect(lifetime).toBeGreaterThan(0);
    expect(lifetime).toBeLessThanOrEqual(180);
    expect(instance.received.map(bearerOf)).toEqual(["sf-token"]);
    expect(instance.received[0]?.url).toBe("/v1/items");
    expect(api.received).toHaveLength(0);
    const text = JSON.stringify(result);
    expect(text).toContain(instance.url);
    expect(
      leakedSecrets(text, [keys.privateKey, "sf-token", tokens.requests[0]?.form.assertion ?? "?"]),
    ).toEqual([]);
  });
});

describe("google", () => {
  it("service-account key: assertion with scope and aud = token_uri, lifetime <= 1 h", async () => {
    const keys = rsaKeyPair();
    const publicKey = createPublicKey(keys.publicKey);
    let claims: Record<string, unknown> = {};
    tokens = await startTokenServer({
      fallback: async (request) => {
        expect(request.path).toBe("/token");
        expectForm(request, { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer" });
        const { payload } = await jwtVerify(request.form.assertion ?? "", publicKey, {
          issuer: "tts@project.iam.gserviceaccount.com",
          audience: tokens.url("/token"),
        });
        claims = payload;
        return tokenAnswer({ access_token: "google-token", expires_in: 3599 });
      },
    });
    const serviceAccountKey = JSON.stringify({
      type: "service_account",
      client_email: "tts@project.iam.gserviceaccount.com",
      private_key: keys.privateKey,
      token_uri: tokens.url("/token"),
    });
    const result = await runThrough(
      {
        id: "c-google",
        name: "Google TTS",
        type: "google",
        serviceAccountKey: { env: "GOOGLE_KEY" },
        scopes: ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/tts"],
        resourceDomainUrl: api.url,
      } as ConnectorInput,
      { GOOGLE_KEY: serviceAccountKey },
    );
    expect(tokens.checkFailures).toEqual([]);
    expect(claims.scope).toBe(
      "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/tts",
    );
    expect(claims.sub).toBeUndefined();
    const lifetime = Number(claims.exp) - Number(claims.iat);
    expect(lifetime).toBeGreaterThan(0);
    expect(lifetime).toBeLessThanOrEqual(3600);
    expect(api.received.map(bearerOf)).toEqual(["google-token"]);
    expect(
      leakedSecrets(JSON.stringify(result), [keys.privateKey, serviceAccountKey, "google-token"]),
    ).toEqual([]);
  });
});

describe("google: the key's token_uri gets the https rule (regression)", () => {
  const googleWith = (tokenUri: string): [ConnectorInput, Record<string, string>] => [
    {
      id: "c-google",
      name: "Google TTS",
      type: "google",
      serviceAccountKey: { env: "GOOGLE_KEY" },
      resourceDomainUrl: api.url,
    } as ConnectorInput,
    {
      GOOGLE_KEY: JSON.stringify({
        client_email: "tts@project.iam.gserviceaccount.com",
        private_key: rsaKeyPair().privateKey,
        token_uri: tokenUri,
      }),
    },
  ];

  it("a plain http:// token_uri on a non-loopback host fails with kind auth before anything is sent", async () => {
    tokens = await startTokenServer();
    const result = await runThrough(...googleWith("http://oauth2.example.test/token"));
    expect(outputsOf(result).error?.kind).toBe("auth");
    expect(outputsOf(result).error?.message).toContain("must start with https://");
    expect(api.received).toHaveLength(0);
  });

  it("a loopback http:// token_uri is refused when the engine does not allow loopback http", async () => {
    tokens = await startTokenServer();
    const [connector, env] = googleWith(tokens.url("/token"));
    await withEngine(connector, { secrets: { env }, allowLoopbackHttp: false }, async (engine) => {
      const result = await engine
        .compile(oneCallFlow({ connector: "Google TTS", requestPath: "/v1/voices" }))
        .run();
      expect(outputsOf(result).error?.kind).toBe("auth");
      expect(outputsOf(result).error?.message).toContain("allowLoopbackHttp");
      expect(tokens.requests).toHaveLength(0);
      expect(api.received).toHaveLength(0);
    });
  });
});

describe("google-ccai", () => {
  it("refresh-token grant with the client in the body", async () => {
    tokens = await startTokenServer({
      fallback: (request) => {
        expectForm(request, {
          grant_type: "refresh_token",
          refresh_token: ENV.REFRESH_TOKEN,
          client_id: "1234-abc.apps.googleusercontent.com",
          client_secret: ENV.CLIENT_SECRET,
        });
        return tokenAnswer({ access_token: "ccai-token" });
      },
    });
    await runThrough({
      id: "c-ccai",
      name: "Google CCAI",
      type: "google-ccai",
      clientId: "1234-abc.apps.googleusercontent.com",
      clientSecret: { env: "CLIENT_SECRET" },
      refreshToken: { env: "REFRESH_TOKEN" },
      project: "contact-center-ai",
      serviceAccount: "ccai@contact-center-ai.iam.gserviceaccount.com",
      tokenUrl: tokens.url(),
      resourceDomainUrl: api.url,
    } as ConnectorInput);
    expect(tokens.checkFailures).toEqual([]);
    expect(api.received.map(bearerOf)).toEqual(["ccai-token"]);
  });
});

describe("webex-experience-management", () => {
  it("form POST to {base}/api/LoginToken with password = apiKey, then bearer requests to the base", async () => {
    tokens = await startTokenServer();
    api.handle((request, response) => {
      if (request.url === "/api/LoginToken") {
        const form = Object.fromEntries(new URLSearchParams(request.body));
        const ok =
          request.method === "POST" &&
          form.grant_type === "password" &&
          form.username === "surveys@example.com" &&
          form.password === ENV.API_KEY;
        // LoginToken answers without token_type.
        if (ok) answer(response, 200, { access_token: "wxm-token", expires_in: 3600 });
        else answer(response, 400, { error: "invalid_grant" });
        return;
      }
      apiOk(request, response, undefined as never);
    });
    const result = await runThrough({
      id: "c-wxm",
      name: "Experience Management",
      type: "webex-experience-management",
      username: "surveys@example.com",
      apiKey: { env: "API_KEY" },
      resourceDomainUrl: api.url,
    } as ConnectorInput);
    expect(api.received.map((request) => `${request.method} ${request.url}`)).toEqual([
      "POST /api/LoginToken",
      "GET /v1/items",
    ]);
    expect(api.received[0]?.headers["content-type"]).toContain("application/x-www-form-urlencoded");
    expect(bearerOf(api.received[1]!)).toBe("wxm-token");
    expect(outputsOf(result).statusCode).toBe(200);
  });
});

describe("genesys", () => {
  const genesys = (fields: Record<string, unknown>): ConnectorInput =>
    ({
      id: "c-genesys",
      name: "Genesys",
      type: "genesys",
      environment: "mypurecloud.com",
      clientId: "genesys-client",
      clientSecret: { env: "CLIENT_SECRET" },
      tokenUrl: tokens.url(),
      resourceDomainUrl: api.url,
      ...fields,
    }) as ConnectorInput;

  it("client_credentials with Basic client auth", async () => {
    tokens = await startTokenServer({
      fallback: (request) => {
        expectForm(request, { grant_type: "client_credentials" });
        expect(request.form.client_secret).toBeUndefined();
        expect(decodeClientBasic(request.headers.authorization)).toEqual({
          id: "genesys-client",
          secret: ENV.CLIENT_SECRET,
        });
        return tokenAnswer({ access_token: "genesys-cc-token", expires_in: 86_399 });
      },
    });
    await runThrough(genesys({ grant: "client_credentials" }));
    expect(tokens.checkFailures).toEqual([]);
    expect(api.received.map(bearerOf)).toEqual(["genesys-cc-token"]);
  });

  it("authorization_code: the stored refresh token, client by Basic header", async () => {
    tokens = await startTokenServer({
      fallback: (request) => {
        expectForm(request, { grant_type: "refresh_token", refresh_token: ENV.REFRESH_TOKEN });
        expect(decodeClientBasic(request.headers.authorization)).toEqual({
          id: "genesys-client",
          secret: ENV.CLIENT_SECRET,
        });
        return tokenAnswer({ access_token: "genesys-code-token" });
      },
    });
    await runThrough(genesys({ grant: "authorization_code", refreshToken: { env: "REFRESH_TOKEN" } }));
    expect(tokens.checkFailures).toEqual([]);
    expect(api.received.map(bearerOf)).toEqual(["genesys-code-token"]);
  });
});
