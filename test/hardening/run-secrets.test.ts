// `flowrun run` shows what `record` and `test` show: every value known to be a secret is redacted in the pretty
// trace, in --json and in the --report HTML, whatever header, query parameter or variable carries it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorFileStore } from "../../src/connectors/file-store.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import { REDACTED } from "../../src/core/redact.js";
import { SecretScrubber } from "../../src/core/scrubber.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { cli } from "../helpers/cli.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { installTelemetry } from "../helpers/telemetry.js";

const CLIENT_SECRET = "Run-client-secret-Qx81";
const BASIC_PASSWORD = "Run-basic-password-Wd42";
const API_KEY = "Run-api-key-Lm07";
const ACCESS_TOKEN = "Run-access-token-Zt55";
const secrets = [CLIENT_SECRET, BASIC_PASSWORD, API_KEY, ACCESS_TOKEN];

let dir: string;
let server: LoopbackServer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "flowrun-run-secrets-"));
  server = await startHttpServer((request, response) => {
    response.setHeader("content-type", "application/json");
    if (request.url.startsWith("/token")) {
      response.end(JSON.stringify({ access_token: ACCESS_TOKEN, token_type: "Bearer", expires_in: 3600 }));
      return;
    }
    // The API echoes the bearer token it was sent, as some do in a "whoami" answer.
    const token = (request.headers.authorization ?? "").replace(/^Bearer /, "");
    response.end(JSON.stringify({ echoed: token, ok: true }));
  });
  const connectors = {
    connectors: [
      {
        id: "7c0e0d9a-1d0b-4d43-9a55-6b8c7d1e2f01",
        name: "CRM",
        type: "custom",
        status: "active",
        resourceDomainUrl: server.url,
        auth: {
          type: "oauth2",
          grantType: "client_credentials",
          clientId: "flows",
          clientSecret: { env: "RUN_CLIENT_SECRET" },
          tokenUrl: `${server.url}/token`,
        },
      },
      {
        id: "7c0e0d9a-1d0b-4d43-9a55-6b8c7d1e2f02",
        name: "Billing",
        type: "custom",
        status: "active",
        resourceDomainUrl: server.url,
        auth: { type: "basic", username: "flows", password: { env: "RUN_BASIC_PASSWORD" } },
      },
    ],
  };
  writeFileSync(path.join(dir, "connectors.json"), JSON.stringify(connectors));
  const flow = {
    name: "run-secrets",
    variables: { note: { type: "string" }, apiKey: { type: "string" }, echoed: { type: "string" } },
    start: "lookup",
    activities: {
      lookup: {
        type: "http-request",
        connector: "CRM",
        requestPath: "/api/lookup",
        queryParameters: { q: "{{ contact.ref }}" },
        headers: { "X-Ref": "{{ note }}" },
        parseSettings: [{ outputVariable: "echoed", pathExpression: "$.echoed" }],
        next: { success: "bill", error: "bill" },
      },
      bill: {
        type: "http-request",
        connector: "Billing",
        requestPath: "/api/ping",
        next: { success: "say", error: "say" },
      },
      say: { type: "play-message", prompt: "key {{ apiKey }} token {{ echoed }}", next: { default: "done" } },
      done: { type: "end-flow" },
    },
  };
  writeFileSync(path.join(dir, "secrets.flow.json"), JSON.stringify(flow));
});

afterAll(async () => {
  await closeAllServers();
  rmSync(dir, { recursive: true, force: true });
});

describe("flowrun run", () => {
  it("redacts connector secrets, secret-named inputs and issued tokens in the pretty trace, --json and --report", async () => {
    const report = path.join(dir, "report.html");
    const env = { ...process.env, RUN_CLIENT_SECRET: CLIENT_SECRET, RUN_BASIC_PASSWORD: BASIC_PASSWORD };
    const base = [
      "run",
      "secrets.flow.json",
      "--connectors",
      "connectors.json",
      "--allow-loopback-http",
      // A connector secret passed as a contact field (sent in query `q`), a Basic password as a variable (sent in
      // header X-Ref), a secret-named variable; the access token comes back from the API into `echoed`.
      "--contact",
      `ref=${CLIENT_SECRET}`,
      "--var",
      `note=${BASIC_PASSWORD}`,
      "--var",
      `apiKey=${API_KEY}`,
    ];
    const outputs: Record<string, string> = {};
    for (const [what, extra] of [
      ["pretty", []],
      ["json", ["--json"]],
      ["report", ["--report", report]],
    ] as const) {
      const ran = await cli([...base, ...extra], { cwd: dir, env });
      expect(ran.code, ran.stderr).toBe(0);
      outputs[what] = ran.stdout + ran.stderr;
    }
    outputs.html = readFileSync(report, "utf8");
    // The run did reach the API and saw the token: the outputs say so, redacted.
    const shown = JSON.parse(outputs.json!);
    expect(shown.path).toEqual(["lookup", "bill", "say", "done"]);
    expect(shown.variables.echoed).toBe(REDACTED);
    expect(shown.variables.apiKey).toBe(REDACTED);
    expect(shown.trace[0].http.url).toContain(`q=${REDACTED}`);
    for (const [what, text] of Object.entries(outputs)) {
      for (const secret of secrets) expect(text, `${what} shows ${secret}`).not.toContain(secret);
      expect(text, what).toContain(REDACTED);
    }
  });
});

describe("replay: a request that matches no recording", () => {
  it("flowrun test and run --replay show it with the connector's secrets redacted", async () => {
    const replayDir = mkdtempSync(path.join(tmpdir(), "flowrun-replay-secrets-"));
    const fixtures = path.resolve("fixtures");
    writeFileSync(
      path.join(replayDir, "connectors.json"),
      readFileSync(path.join(fixtures, "connectors.json"), "utf8"),
    );
    writeFileSync(
      path.join(replayDir, "loyalty.flow.json"),
      readFileSync(path.join(fixtures, "flows/loyalty-points.flow.json"), "utf8"),
    );
    // The recording was made with another user name: the token request this run sends matches nothing, and the
    // mismatch shows the request as sent, password and client secret in its body.
    const recorded = JSON.parse(readFileSync(path.join(fixtures, "flows/loyalty-points.test.json"), "utf8"));
    recorded.flow = "./loyalty.flow.json";
    recorded.connectors = "./connectors.json";
    recorded.cases = recorded.cases.slice(0, 1);
    recorded.cases[0].exchanges[0].request.body.username = "someone-else";
    writeFileSync(path.join(replayDir, "loyalty.test.json"), JSON.stringify(recorded));
    const env = {
      ...process.env,
      LOYALTY_CLIENT_SECRET: "Replay-client-secret-Hv31",
      LOYALTY_PASSWORD: "Replay-password-Kc92",
    };
    const tested = await cli(["test", "loyalty.test.json"], { cwd: replayDir, env });
    const replayed = await cli(
      ["run", "loyalty.flow.json", "--replay", "loyalty.test.json", "--case", recorded.cases[0].name],
      { cwd: replayDir, env },
    );
    for (const output of [tested, replayed]) {
      const shown = output.stdout + output.stderr;
      expect(shown).toContain("someone-else");
      expect(shown).toContain("[REDACTED]");
      expect(shown).not.toContain(env.LOYALTY_CLIENT_SECRET);
      expect(shown).not.toContain(env.LOYALTY_PASSWORD);
    }
    rmSync(replayDir, { recursive: true, force: true });
  });
});

describe("an embedded engine", () => {
  it("learns the secrets it resolves and sends: spans, and engine.scrubber for the host's logs, show none", async () => {
    const telemetry = installTelemetry();
    try {
      const file = path.join(dir, "connectors.json");
      const store = new ConnectorFileStore(file, { allowLoopbackHttp: true });
      const connectors = await ConnectorRegistry.open(store, { allowLoopbackHttp: true });
      const env = { RUN_CLIENT_SECRET: CLIENT_SECRET, RUN_BASIC_PASSWORD: BASIC_PASSWORD };
      const engine = createEngine({ connectors, allowLoopbackHttp: true, secrets: { env } });
      const flow = engine.compile(JSON.parse(readFileSync(path.join(dir, "secrets.flow.json"), "utf8")));
      const result = await flow.run({
        contact: { ref: CLIENT_SECRET },
        variables: { note: BASIC_PASSWORD, apiKey: "not-secret-here" },
      });
      await engine.close();
      await connectors.close();
      expect(result.variables.echoed).toBe(ACCESS_TOKEN);
      const logged = engine.scrubber.scrubText(JSON.stringify(result));
      for (const secret of [CLIENT_SECRET, BASIC_PASSWORD, ACCESS_TOKEN])
        expect(logged).not.toContain(secret);
      const urls = telemetry.spans().map((span) => String(span.attributes["url.full"] ?? ""));
      expect(urls.some((url) => url.includes("/api/lookup"))).toBe(true);
      for (const url of urls) expect(url).not.toContain(CLIENT_SECRET);
    } finally {
      await telemetry.uninstall();
    }
  });
});

describe("SecretScrubber", () => {
  it("redacts every known form of a secret in text and values, and forgets the oldest past its capacity", () => {
    const scrubber = new SecretScrubber();
    scrubber.addCredentialHeader("Bearer abc-token-1234");
    scrubber.add("p@ss word!");
    expect(scrubber.scrubText("t=abc-token-1234 p=p%40ss%20word! b=cEBzcyB3b3JkIQ==")).toBe(
      `t=${REDACTED} p=${REDACTED} b=${REDACTED}`,
    );
    expect(scrubber.scrubValue({ a: ["abc-token-1234"], n: 1 })).toEqual({ a: [REDACTED], n: 1 });
    // The forms are cached between scrubs: a secret learned after a scrub is still removed by the next one.
    scrubber.add("learned-later-9876");
    expect(scrubber.scrubText("x=learned-later-9876")).toBe(`x=${REDACTED}`);
    for (let i = 0; i < 1100; i++) scrubber.add(`filler-secret-${i}`);
    expect(scrubber.scrubText("filler-secret-75 filler-secret-76")).toBe(`filler-secret-75 ${REDACTED}`);
    expect(scrubber.scrubText("filler-secret-1099")).toBe(REDACTED);
    expect(scrubber.scrubText("abc-token-1234")).toBe("abc-token-1234");
  });

  it("forgets the least recently seen secret, not one still in use (a client secret resolved at every run)", () => {
    const scrubber = new SecretScrubber();
    scrubber.add("client-secret-static");
    for (let i = 0; i < 1023; i++) scrubber.add(`issued-token-${i}`);
    scrubber.add("client-secret-static");
    for (let i = 0; i < 10; i++) scrubber.add(`later-secret-${i}`);
    expect(scrubber.scrubText("echo client-secret-static")).toBe(`echo ${REDACTED}`);
  });

  it("shows values of any depth, cut at 32 levels with [...]", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const shown = new SecretScrubber().scrubValue(deep);
    const text = JSON.stringify(shown);
    expect(text).toBe(`${"[".repeat(32)}"[...]"${"]".repeat(32)}`);
  });
});
