// Secret-leak audit: distinctive values for every secret of every connector type, run through every
// command that prints or writes something, against servers that echo credentials back; no output may contain a
// secret, its base64 form or its URL-encoded form.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenRequestSecrets } from "../../src/connectors/auth/token-endpoint.js";
import { ConnectorFileStore } from "../../src/connectors/file-store.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import { REDACTED, scrubSecrets } from "../../src/core/redact.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { rsaKeyPair } from "../helpers/auth.js";
import { type CliRun, cli } from "../helpers/cli.js";
import {
  closeAllServers,
  type LoopbackServer,
  type ReceivedRequest,
  startHttpServer,
} from "../helpers/servers.js";
import { installTelemetry } from "../helpers/telemetry.js";

const root = path.resolve(import.meta.dirname, "../..");
const key = rsaKeyPair();
const mark = (name: string) => `Sekr3t-${name}-Zq9xW7`;

/** Environment for the temp connectors file: one distinctive value per secret of every connector type. */
const env: Record<string, string> = {
  LEAK_BILLING_PASSWORD: mark("billing-password"),
  LEAK_CRM_CLIENT_SECRET: mark("crm-client-secret"),
  LEAK_LOYALTY_CLIENT_SECRET: mark("loyalty-client-secret"),
  LEAK_LOYALTY_PASSWORD: mark("loyalty-password"),
  LEAK_WXCC_CLIENT_SECRET: mark("wxcc-client-secret"),
  LEAK_WXCC_REFRESH_TOKEN: mark("wxcc-refresh-token"),
  LEAK_SALESFORCE_PRIVATE_KEY: key.privateKey,
  LEAK_GOOGLE_KEY: "",
  LEAK_CCAI_CLIENT_SECRET: mark("ccai-client-secret"),
  LEAK_CCAI_REFRESH_TOKEN: mark("ccai-refresh-token"),
  LEAK_WXM_API_KEY: mark("wxm-api-key"),
  LEAK_GENESYS_CLIENT_SECRET: mark("genesys-client-secret"),
  LEAK_GENESYS_REFRESH_TOKEN: mark("genesys-refresh-token"),
};
/** The fixtures' own secret names (fixtures/connectors.json), for `flowrun test`. */
const fixtureEnv: Record<string, string> = {
  BILLING_PASSWORD: mark("fx-billing-password"),
  CRM_CLIENT_SECRET: mark("fx-crm-client-secret"),
  LOYALTY_CLIENT_SECRET: mark("fx-loyalty-client-secret"),
  LOYALTY_PASSWORD: mark("fx-loyalty-password"),
  WXCC_CLIENT_SECRET: mark("fx-wxcc-client-secret"),
  WXCC_REFRESH_TOKEN: mark("fx-wxcc-refresh-token"),
  SALESFORCE_PRIVATE_KEY: key.privateKey,
  GOOGLE_SERVICE_ACCOUNT_KEY: "",
  CCAI_CLIENT_SECRET: mark("fx-ccai-client-secret"),
  CCAI_REFRESH_TOKEN: mark("fx-ccai-refresh-token"),
  WXM_API_KEY: mark("fx-wxm-api-key"),
  GENESYS_CLIENT_SECRET: mark("fx-genesys-client-secret"),
};
const PLAIN_SECRET = mark("plain-string-password");
const ACCESS_TOKEN = mark("access-token");
/** A secret only by the name of the run input that carries it (`--contact apiToken=...`). */
const INPUT_TOKEN = mark("input-api-token");

let dir: string;
let server: LoopbackServer;
/**
 * "ok": token endpoints issue tokens and APIs fail echoing credentials; "reject": token endpoints answer
 * invalid_client echoing the client's credentials. Every test that reaches the server sets the mode it needs.
 */
let mode: "ok" | "reject" = "ok";

function secrets(): string[] {
  const values = [
    ...Object.values(env),
    ...Object.values(fixtureEnv),
    PLAIN_SECRET,
    ACCESS_TOKEN,
    INPUT_TOKEN,
  ].filter((value) => value !== "");
  // A PEM key leaks too when a part of its body is quoted.
  const body = key.privateKey.split("\n").slice(1, -2).join("");
  values.push(body.slice(100, 164), body.slice(-64));
  return [...new Set(values)];
}

function forms(secret: string): string[] {
  return [
    secret,
    Buffer.from(secret).toString("base64"),
    Buffer.from(secret).toString("base64url"),
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    JSON.stringify(secret).slice(1, -1),
  ].filter((form) => form.length >= 8);
}

/**
 * What one test's commands printed and wrote. Each test audits its own outputs, so the tests run in any order,
 * and checks that every command did its work: a command that failed early prints little, and little output
 * "contains no secret" trivially.
 */
class Outputs {
  private readonly texts: { what: string; text: string }[] = [];

  command(what: string, run: CliRun, expectedCode = 0): CliRun {
    this.texts.push(
      { what: `${what} (stdout)`, text: run.stdout },
      { what: `${what} (stderr)`, text: run.stderr },
    );
    // The stderr is scrubbed: a failing audit must not print the secrets it looks for.
    expect(run.code, `exit code of ${what}; stderr: ${scrubSecrets(run.stderr, secrets())}`).toBe(
      expectedCode,
    );
    return run;
  }

  file(what: string, file: string): string {
    expect(existsSync(file), `${what} was written`).toBe(true);
    const text = readFileSync(file, "utf8");
    this.texts.push({ what, text });
    return text;
  }

  /** Output produced in this process (telemetry exports). */
  text(what: string, text: string): void {
    this.texts.push({ what, text });
  }

  expectNoSecrets(): void {
    const leaks: string[] = [];
    for (const secret of secrets()) {
      for (const form of forms(secret)) {
        for (const output of this.texts) {
          const at = output.text.indexOf(form);
          if (at >= 0)
            leaks.push(`${output.what}: ${JSON.stringify(output.text.slice(Math.max(0, at - 80), at + 40))}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  }
}

/** Echoes the request's credentials: the whole Authorization header, the form body (client secrets, passwords, assertions). */
function echo(request: ReceivedRequest): string {
  return `authorization=${request.headers.authorization ?? ""} body=${request.body} url=${request.url}`;
}

const connectorNames = [
  "Billing",
  "Plain",
  "CRM",
  "Loyalty",
  "Webex CC",
  "Salesforce",
  "Google TTS",
  "Google CCAI",
  "Experience Management",
  "Genesys",
];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "flowrun-leaks-"));
  server = await startHttpServer((request, response) => {
    const isToken = /token/i.test(request.url);
    response.setHeader("content-type", "application/json");
    response.setHeader("x-echo", encodeURIComponent(request.headers.authorization ?? ""));
    if (isToken && mode === "ok") {
      response.end(
        JSON.stringify({
          access_token: ACCESS_TOKEN,
          accessToken: ACCESS_TOKEN,
          token_type: "Bearer",
          expires_in: 3600,
          instance_url: `${server.url}/sf`,
        }),
      );
      return;
    }
    response.statusCode = isToken ? 401 : 500;
    response.end(
      JSON.stringify(
        isToken
          ? { error: "invalid_client", error_description: `bad client: ${echo(request)}` }
          : { error: "boom", message: `you sent ${echo(request)}` },
      ),
    );
  });
  const base = server.url;
  const googleKey = (tokenUri: string) =>
    JSON.stringify({
      type: "service_account",
      client_email: "tts@project.iam.gserviceaccount.com",
      private_key: key.privateKey,
      token_uri: tokenUri,
    });
  env.LEAK_GOOGLE_KEY = googleKey(`${base}/google/token`);
  // The token URL the fixtures' recorded exchanges were made with.
  fixtureEnv.GOOGLE_SERVICE_ACCOUNT_KEY = googleKey("https://oauth2.googleapis.com/token");
  const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
  const connectors = {
    connectors: [
      {
        id: id(0),
        name: "Billing",
        type: "custom",
        status: "active",
        resourceDomainUrl: `${base}/billing`,
        auth: {
          type: "basic",
          username: "flows",
          password: { env: "LEAK_BILLING_PASSWORD" },
          validationUrl: `${base}/billing/validate`,
        },
      },
      {
        id: id(1),
        name: "Plain",
        type: "custom",
        status: "active",
        resourceDomainUrl: `${base}/plain`,
        auth: {
          type: "basic",
          username: "flows",
          password: PLAIN_SECRET,
          validationUrl: `${base}/plain/validate`,
        },
      },
      {
        id: id(2),
        name: "CRM",
        type: "custom",
        status: "active",
        resourceDomainUrl: `${base}/crm`,
        auth: {
          type: "oauth2",
          grantType: "client_credentials",
          clientId: "flows",
          clientSecret: { env: "LEAK_CRM_CLIENT_SECRET" },
          tokenUrl: `${base}/crm/token`,
        },
      },
      {
        id: id(3),
        name: "Loyalty",
        type: "custom",
        status: "active",
        resourceDomainUrl: `${base}/loyalty`,
        auth: {
          type: "oauth2",
          grantType: "password",
          clientId: "ivr",
          clientSecret: { env: "LEAK_LOYALTY_CLIENT_SECRET" },
          clientAuth: "body",
          tokenUrl: `${base}/loyalty/token`,
          username: "ivr",
          password: { env: "LEAK_LOYALTY_PASSWORD" },
        },
      },
      {
        id: id(4),
        name: "Webex CC",
        type: "webex-contact-center",
        status: "active",
        access: "read-write",
        clientId: "C0ffee",
        clientSecret: { env: "LEAK_WXCC_CLIENT_SECRET" },
        refreshToken: { env: "LEAK_WXCC_REFRESH_TOKEN" },
        tokenUrl: `${base}/wxcc/token`,
        resourceDomainUrl: `${base}/wxcc`,
      },
      {
        id: id(5),
        name: "Salesforce",
        type: "salesforce",
        status: "active",
        clientId: "3MVG9",
        username: "integration@example.com",
        authServerUrl: base,
        privateKey: { env: "LEAK_SALESFORCE_PRIVATE_KEY" },
      },
      {
        id: id(6),
        name: "Google TTS",
        type: "google",
        status: "active",
        serviceAccountKey: { env: "LEAK_GOOGLE_KEY" },
        resourceDomainUrl: `${base}/tts`,
      },
      {
        id: id(7),
        name: "Google CCAI",
        type: "google-ccai",
        status: "active",
        clientId: "123-abc.apps.googleusercontent.com",
        clientSecret: { env: "LEAK_CCAI_CLIENT_SECRET" },
        refreshToken: { env: "LEAK_CCAI_REFRESH_TOKEN" },
        project: "ccai",
        serviceAccount: "ccai@ccai.iam.gserviceaccount.com",
        tokenUrl: `${base}/ccai/token`,
        resourceDomainUrl: `${base}/ccai`,
      },
      {
        id: id(8),
        name: "Experience Management",
        type: "webex-experience-management",
        status: "active",
        username: "surveys@example.com",
        apiKey: { env: "LEAK_WXM_API_KEY" },
        resourceDomainUrl: `${base}/wxm`,
      },
      {
        id: id(9),
        name: "Genesys",
        type: "genesys",
        status: "active",
        environment: "mypurecloud.com",
        grant: "authorization_code",
        clientId: "genesys-client",
        clientSecret: { env: "LEAK_GENESYS_CLIENT_SECRET" },
        refreshToken: { env: "LEAK_GENESYS_REFRESH_TOKEN" },
        tokenUrl: `${base}/genesys/token`,
        resourceDomainUrl: `${base}/genesys`,
      },
    ],
  };
  writeFileSync(path.join(dir, "connectors.json"), JSON.stringify(connectors, null, 2), { mode: 0o600 });
  const activities: Record<string, unknown> = {};
  connectorNames.forEach((name, index) => {
    activities[`call${index}`] = {
      type: "http-request",
      connector: name,
      requestPath: "/api/echo",
      method: "POST",
      queryParameters: { api_key: "{{ contact.ani }}", pin: "{{ contact.pin }}", ref: "{{ caller }}" },
      headers: { "x-caller": "{{ caller }}", "x-account": "{{ contact.apiToken }}" },
      body: { hello: "world" },
      timeoutMs: 3000,
      next: { success: `call${index + 1}`, error: `call${index + 1}` },
    };
  });
  activities[`call${connectorNames.length}`] = { type: "end-flow" };
  writeFileSync(
    path.join(dir, "every-connector.flow.json"),
    JSON.stringify(
      { name: "every-connector", variables: { caller: { type: "string" } }, start: "call0", activities },
      null,
      2,
    ),
  );
});

afterAll(async () => {
  await closeAllServers();
  rmSync(dir, { recursive: true, force: true });
});

const allEnv = () => ({ ...process.env, ...env, ...fixtureEnv, NO_COLOR: "1" });
const runArgs = () => [
  "run",
  path.join(dir, "every-connector.flow.json"),
  "--connectors",
  path.join(dir, "connectors.json"),
  "--allow-loopback-http",
  "--contact",
  "ani=+15551234567",
];

/** The trace lines of `flowrun run` (pretty): one per activity, each naming it. */
function expectEveryActivityTraced(stdout: string): void {
  for (let index = 0; index <= connectorNames.length; index++) expect(stdout).toContain(`call${index}`);
}

describe("secret-leak audit", () => {
  it("flowrun test over the fixtures: json, junit and pretty reporters", async () => {
    const outputs = new Outputs();
    const fixtures = path.join(root, "fixtures/flows");
    const json = outputs.command(
      "test --reporter json",
      await cli(["test", fixtures, "--reporter", "json"], { env: allEnv() }),
    );
    const report = JSON.parse(json.stdout) as { passed: number; failed: number; cases: { name: string }[] };
    expect(report.failed).toBe(0);
    expect(report.passed).toBe(report.cases.length);
    expect(report.cases.length).toBeGreaterThan(3);
    const junit = path.join(dir, "junit.xml");
    outputs.command(
      "test --reporter junit",
      await cli(["test", fixtures, "--reporter", "junit", "--output", junit], { env: allEnv() }),
    );
    const xml = outputs.file("junit.xml", junit);
    expect(xml.match(/<testcase /g)).toHaveLength(report.cases.length);
    const pretty = outputs.command("test pretty", await cli(["test", fixtures], { env: allEnv() }));
    expect(pretty.stdout).toContain(`${report.cases.length} passed, 0 failed`);
    for (const { name } of report.cases) expect(pretty.stdout).toContain(name);
    const html = path.join(dir, "test-report.html");
    rmSync(html, { force: true });
    outputs.command(
      "test --reporter html",
      await cli(["test", fixtures, "--reporter", "html", "--output", html], { env: allEnv() }),
    );
    const page = outputs.file("test-report.html", html);
    for (const { name } of report.cases)
      expect(page).toContain(name.replaceAll("&", "&amp;").replaceAll("'", "&#39;"));
    outputs.expectNoSecrets();
  });

  it("flowrun run --json and pretty, tokens issued, APIs echoing credentials in error bodies", async () => {
    mode = "ok";
    const outputs = new Outputs();
    const json = outputs.command("run --json (ok)", await cli([...runArgs(), "--json"], { env: allEnv() }));
    const result = JSON.parse(json.stdout) as {
      status: string;
      trace: { activity: string; error?: { kind: string } }[];
    };
    expect(result.status).toBe("completed");
    // Every connector got as far as its API (which failed with 500): credentials were obtained and used.
    expect(result.trace.slice(0, -1).map((entry) => entry.error?.kind)).toEqual(
      connectorNames.map(() => "http-status"),
    );
    const pretty = outputs.command("run pretty (ok)", await cli(runArgs(), { env: allEnv() }));
    expectEveryActivityTraced(pretty.stdout);
    const report = path.join(dir, "run-ok.html");
    rmSync(report, { force: true });
    outputs.command("run --report (ok)", await cli([...runArgs(), "--report", report], { env: allEnv() }));
    // The report shows the request as sent: every connector's step is in it, credentials redacted.
    expect(outputs.file("run --report (ok) html", report).match(/authorization: \[REDACTED\]/g)).toHaveLength(
      connectorNames.length,
    );
    outputs.expectNoSecrets();
  });

  it("flowrun run --json and pretty, token endpoints answering invalid_client echoing the client's credentials", async () => {
    mode = "reject";
    const outputs = new Outputs();
    const json = outputs.command(
      "run --json (reject)",
      await cli([...runArgs(), "--json"], { env: allEnv() }),
    );
    const result = JSON.parse(json.stdout) as {
      status: string;
      trace: { error?: { kind: string; message: string } }[];
    };
    expect(result.status).toBe("completed");
    expect(result.trace).toHaveLength(connectorNames.length + 1);
    const kinds = result.trace.map((entry) => entry.error?.kind);
    // Basic-auth connectors have no token endpoint; every other one fails with kind auth naming invalid_client.
    expect(kinds.filter((kind) => kind === "auth").length).toBe(connectorNames.length - 2);
    for (const entry of result.trace)
      if (entry.error?.kind === "auth") expect(entry.error.message).toMatch(/invalid_client/);
    const pretty = outputs.command("run pretty (reject)", await cli(runArgs(), { env: allEnv() }));
    expectEveryActivityTraced(pretty.stdout);
    expect(pretty.stdout).toContain("invalid_client");
    const report = path.join(dir, "run-reject.html");
    rmSync(report, { force: true });
    outputs.command(
      "run --report (reject)",
      await cli([...runArgs(), "--report", report], { env: allEnv() }),
    );
    expect(outputs.file("run --report (reject) html", report)).toContain("invalid_client");
    outputs.expectNoSecrets();
  });

  it("flowrun record writes a test file without secrets, inputs carrying secrets included, and it replays", async () => {
    mode = "ok";
    const outputs = new Outputs();
    const out = path.join(dir, "recorded.test.json");
    rmSync(out, { force: true });
    const [, flowFile, ...rest] = runArgs();
    // Secrets as run inputs: connector secrets as a contact field and a variable (sent in queries and
    // headers), a base64 form of one, and a value secret only by its input's name.
    const inputs = [
      ["--contact", `pin=${env.LEAK_CRM_CLIENT_SECRET}`],
      ["--contact", `blob=${Buffer.from(env.LEAK_WXM_API_KEY ?? "").toString("base64")}`],
      ["--contact", `apiToken=${INPUT_TOKEN}`],
      ["--var", `caller=${env.LEAK_GENESYS_CLIENT_SECRET}`],
    ].flat();
    const args = ["record", flowFile!, "--case", "every connector", "--out", out, ...rest, ...inputs];
    expect(outputs.command("record", await cli(args, { env: allEnv() })).stdout).toContain("recorded case");
    // The whole file is audited, not only its exchanges: contact, variables and expect too.
    const recorded = JSON.parse(outputs.file("recorded.test.json", out)) as {
      cases: { name: string; contact: Record<string, string>; exchanges: unknown[] }[];
    };
    expect(recorded.cases.map((c) => c.name)).toEqual(["every connector"]);
    expect(Object.keys(recorded.cases[0]!.contact)).toEqual(["ani", "pin", "blob", "apiToken"]);
    // One API exchange per connector, and token exchanges for the eight that use a token endpoint.
    expect(recorded.cases[0]!.exchanges.length).toBe(connectorNames.length + connectorNames.length - 2);
    const replayed = outputs.command("test recorded.test.json", await cli(["test", out], { env: allEnv() }));
    expect(replayed.stdout).toContain("1 passed, 0 failed");
    outputs.expectNoSecrets();
  });

  it("flowrun connectors list, list --json, show and validate", async () => {
    const outputs = new Outputs();
    const file = path.join(dir, "connectors.json");
    const common = ["--file", file, "--allow-loopback-http"];
    const list = outputs.command(
      "connectors list",
      await cli(["connectors", "list", ...common], { env: allEnv() }),
    );
    for (const name of connectorNames) expect(list.stdout).toContain(name);
    const listJson = outputs.command(
      "connectors list --json",
      await cli(["connectors", "list", "--json", ...common], { env: allEnv() }),
    );
    expect((JSON.parse(listJson.stdout) as { name: string }[]).map((c) => c.name)).toEqual(connectorNames);
    for (const name of connectorNames) {
      const show = outputs.command(
        `connectors show ${name}`,
        await cli(["connectors", "show", name, ...common], { env: allEnv() }),
      );
      expect((JSON.parse(show.stdout) as { name: string }).name).toBe(name);
    }
    // The validation URLs of the two basic-auth connectors answer 500 echoing the credentials: validation fails
    // for them (exit 2, a validation error) and says so; the other types have no connectivity check yet and are named with a note.
    const validate = outputs.command(
      "connectors validate --connectivity",
      await cli(["connectors", "validate", "--connectivity", ...common], { env: allEnv() }),
      2,
    );
    for (const name of connectorNames) expect(validate.stdout + validate.stderr).toContain(name);
    expect(validate.stdout + validate.stderr).toMatch(/Billing: .*500/);
    expect(validate.stdout + validate.stderr).toMatch(/Plain: .*500/);
    outputs.expectNoSecrets();
  });

  it("OpenTelemetry spans and metrics of runs with tokens issued and refused (in-memory exporters)", async () => {
    const outputs = new Outputs();
    const telemetry = installTelemetry();
    try {
      const file = path.join(dir, "connectors.json");
      const store = new ConnectorFileStore(file, { allowLoopbackHttp: true });
      const connectors = await ConnectorRegistry.open(store, { allowLoopbackHttp: true });
      const engine = createEngine({ connectors, allowLoopbackHttp: true, secrets: { env: allEnv() } });
      const flow = engine.compile(
        JSON.parse(readFileSync(path.join(dir, "every-connector.flow.json"), "utf8")),
      );
      for (const which of ["ok", "reject"] as const) {
        mode = which;
        await flow.run({ contact: { ani: "+15551234567" } });
      }
      await engine.close();
      const spans = telemetry.spans();
      // Every connector's attempt and every token request is there to be audited.
      expect(spans.filter((span) => span.name === "POST").length).toBeGreaterThanOrEqual(
        connectorNames.length,
      );
      expect(spans.filter((span) => span.name === "flowrun.token.fetch").length).toBeGreaterThanOrEqual(8);
      const shown = spans.map((span) => ({
        name: span.name,
        attributes: span.attributes,
        status: span.status,
        events: span.events,
        links: span.links,
      }));
      outputs.text("OpenTelemetry spans", JSON.stringify(shown));
      outputs.text("OpenTelemetry metrics", JSON.stringify(await telemetry.metrics()));
    } finally {
      await telemetry.uninstall();
    }
    outputs.expectNoSecrets();
  });
});

describe("regressions found by the audit", () => {
  it("scrubSecrets replaces the URL-encoded, base64 and JSON-escaped forms of a secret", () => {
    const secret = "p@ss word/+\nline";
    const text = [
      secret,
      encodeURIComponent(secret),
      new URLSearchParams({ s: secret }).toString().slice(2),
      Buffer.from(secret).toString("base64"),
      JSON.stringify(secret),
    ].join(" | ");
    const scrubbed = scrubSecrets(text, [secret]);
    expect(scrubbed).not.toContain("ss word");
    expect(scrubbed).not.toContain("p%40ss");
    expect(scrubbed).not.toContain(Buffer.from(secret).toString("base64"));
    expect(scrubbed.split(REDACTED).length - 1).toBe(5);
  });

  it("tokenRequestSecrets lists the Basic pair's secret and secret-named form fields", () => {
    const pair = `${encodeURIComponent("client")}:${new URLSearchParams({ v: "s3cr3t+/x" }).toString().slice(2)}`;
    const secrets = tokenRequestSecrets({
      url: "https://auth.example.com/token",
      headers: { authorization: `Basic ${Buffer.from(pair).toString("base64")}` },
      body: "grant_type=refresh_token&refresh_token=rt-123456&client_secret=cs-987654&scope=a",
    });
    expect(secrets).toEqual(expect.arrayContaining(["s3cr3t+/x", "rt-123456", "cs-987654"]));
    expect(secrets).not.toContain("refresh_token");
    expect(secrets).not.toContain("a");
  });
});
