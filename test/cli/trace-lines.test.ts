import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cliHints } from "../../src/cli/hints.js";
import { paint } from "../../src/cli/paint.js";
import { formatTrace } from "../../src/cli/trace-format.js";
import type { ConnectorInput } from "../../src/connectors/schema.js";
import { httpTraceOf, type RunResult } from "../../src/engine/result.js";
import type { EngineOptions } from "../../src/runtime/create-engine.js";
import {
  answer,
  apiOk,
  bearerOf,
  connectorsDoc,
  engineFor,
  memoryRegistry,
  oauthCrmConnector,
  oneCallFlow,
  useApiServer,
  useTokenServer,
} from "../auth-e2e/harness.js";
import { cli } from "../helpers/cli.js";
import { runHttp } from "../helpers/http-flows.js";
import { TestConnectorResolver, testConnector } from "../helpers/test-connectors.js";
import { oauthError, tokenAnswer } from "../helpers/token-server.js";

/**
 * Every line the pretty trace prints for an http-request is true in the state the activity ended in.
 * Each test drives a real run into one state (loopback API and token servers, a real connector registry) and
 * compares the printed lines exactly; only durations and the server port are normalised.
 */

const api = useApiServer();
const tokens = useTokenServer();

const SECRET_ENV = { CRM_SECRET: "cl1ent-S3cret" };

const oauthCrm = (fields: Record<string, unknown> = {}) => oauthCrmConnector(api, tokens, fields);

/** The trace as `flowrun run` prints it (no colour), durations and ports normalised. */
function printed(result: RunResult, hints = cliHints(noFlags)): string[] {
  return formatTrace("t", result, paint(false), hints)
    .replace(/\d+\.\d ms/g, "_ ms")
    .replace(new RegExp(`:${api.port}\\b`, "g"), ":API")
    .replace(new RegExp(`:${tokens.port}\\b`, "g"), ":TOKENS")
    .split("\n");
}

/** The lines printed for the first activity `call`: its step line and the lines indented under it. */
function callLines(result: RunResult, hints = cliHints(noFlags)): string[] {
  const lines = printed(result, hints);
  const start = lines.findIndex((line) => line.startsWith("  1 "));
  const end = lines.findIndex((line, index) => index > start && !line.startsWith("        "));
  return lines.slice(start, end).map((line) => line.trimEnd());
}

const noFlags = {
  cwd: process.cwd(),
  flowFile: "flows/t.flow.json",
  connectorsFile: undefined,
  replay: false,
};

const call = { connector: "CRM", requestPath: "/accounts" };

/** Runs `oneCallFlow(activity)` once (or `runs` times on one engine) against a registry holding `connector`. */
async function runWith(
  connector: ConnectorInput,
  activity: Record<string, unknown> = call,
  options: { runs?: number; engine?: Partial<EngineOptions> } = {},
): Promise<RunResult> {
  const engine = engineFor(memoryRegistry(connectorsDoc(connector)), {
    secrets: { env: SECRET_ENV },
    ...options.engine,
  });
  try {
    const flow = engine.compile(oneCallFlow(activity));
    let result = await flow.run();
    for (let run = 1; run < (options.runs ?? 1); run++) result = await flow.run();
    return result;
  } finally {
    await engine.close();
  }
}

describe("the trace line of an http-request, per state", () => {
  it("sent without a connector: the URL, the status and the attempts, nothing about tokens", async () => {
    const run = await runHttp(
      { allowLoopbackHttp: true },
      { useAuthenticatedEndpoint: false, requestUrl: `${api.url}/x` },
    );
    expect(callLines(run.result)).toEqual([
      "  1 ✓ call http-request → success _ ms",
      "        GET http://127.0.0.1:API/x → 200 (1 attempt)",
    ]);
  });

  it("token fetched for this request", async () => {
    const result = await runWith(oauthCrm());
    expect(callLines(result)).toEqual([
      "  1 ✓ call http-request → success _ ms",
      "        GET http://127.0.0.1:API/accounts → 200 (1 attempt, token fetched)",
      "          authorization: [REDACTED]",
    ]);
    expect(tokens.requests).toHaveLength(1);
  });

  it("token served from the cache", async () => {
    const result = await runWith(oauthCrm(), call, { runs: 2 });
    expect(callLines(result)[1]).toBe(
      "        GET http://127.0.0.1:API/accounts → 200 (1 attempt, token cached)",
    );
    expect(tokens.requests).toHaveLength(1);
  });

  it("basic auth: no token is claimed", async () => {
    const basic = oauthCrm({ auth: { type: "basic", username: "flows", password: { env: "CRM_SECRET" } } });
    const result = await runWith(basic);
    expect(callLines(result)[1]).toBe(
      "        GET http://127.0.0.1:API/accounts → 200 (1 attempt, basic auth)",
    );
  });

  it("token refused by the token endpoint: not sent, no URL, no token claimed", async () => {
    tokens.enqueue(oauthError("invalid_client", "unknown client", 401));
    const result = await runWith(oauthCrm());
    const lines = callLines(result);
    expect(lines.slice(0, 2)).toEqual([
      "  1 ✗ call http-request → error _ ms",
      "        GET not sent: no credentials",
    ]);
    expect(lines[2]).toMatch(/^ {8}error \[auth\]: connector "CRM": .*invalid_client/);
    expect(lines).toHaveLength(3); // no hint: nothing on the command line would fix a refused client
    expect(api.received).toHaveLength(0);
  });

  it("credentials never asked for: an invalid request is not sent", async () => {
    const result = await runWith(oauthCrm(), {
      connector: "CRM",
      requestPath: "{{ 'https://evil.example/x' }}",
    });
    expect(callLines(result).slice(0, 2)).toEqual([
      "  1 ✗ call http-request → error _ ms",
      "        GET not sent: invalid request (credentials not requested)",
    ]);
    expect(tokens.requests).toHaveLength(0);
  });

  it("credentials never asked for: a method the connector does not allow", async () => {
    const resolver = new TestConnectorResolver([
      testConnector({ name: "CRM", baseUrl: api.url, allowedMethods: ["GET"] }),
    ]);
    const run = await runHttp({ connectors: resolver, allowLoopbackHttp: true }, { ...call, method: "POST" });
    expect(callLines(run.result).slice(0, 3)).toEqual([
      "  1 ✗ call http-request → error _ ms",
      "        POST not sent: method not allowed by the connector (credentials not requested)",
      '        error [method-not-allowed]: connector "CRM" allows only GET; POST was not sent',
    ]);
  });

  it("an http error status is the answer, not a failure to send", async () => {
    api.handle((_request, response) => answer(response, 500, { message: "down" }));
    const result = await runWith(oauthCrm());
    expect(callLines(result)[1]).toBe(
      "        GET http://127.0.0.1:API/accounts → 500 (1 attempt, token fetched)",
    );
  });

  it("retried: a 503 then a 200 shows both attempts", async () => {
    let calls = 0;
    api.handle((request, response, raw) => {
      calls++;
      if (calls === 1) answer(response, 503, {});
      else apiOk(request, response, raw);
    });
    const result = await runWith(oauthCrm(), { ...call, retries: 1 });
    expect(callLines(result)[1]).toBe(
      "        GET http://127.0.0.1:API/accounts → 200 (2 attempts, token fetched)",
    );
  });

  it("timeout before the token: not sent, no URL", async () => {
    tokens.enqueue({ hang: true });
    const result = await runWith(oauthCrm(), { ...call, timeoutMs: 150 });
    const lines = callLines(result);
    expect(lines.slice(0, 2)).toEqual([
      "  1 ✗ call http-request → timeout _ ms",
      "        GET not sent: no token before the deadline",
    ]);
    expect(lines[2]).toBe('        error [timeout]: connector "CRM" was not authorised before the deadline');
    expect(api.received).toHaveLength(0);
  });

  it("timeout after the token: sent, no response", async () => {
    api.handle(() => {}); // never answers
    const result = await runWith(oauthCrm(), { ...call, timeoutMs: 300 });
    const lines = callLines(result);
    expect(lines.slice(0, 2)).toEqual([
      "  1 ✗ call http-request → timeout _ ms",
      "        GET http://127.0.0.1:API/accounts → no response (1 attempt, token fetched)",
    ]);
    expect(lines.at(-1)).toMatch(/^ {8}error \[timeout\]: /);
  });

  it("a response over the size limit is not called 'no response'", async () => {
    api.handle((_request, response) => answer(response, 200, { big: "x".repeat(4096) }));
    const result = await runWith(oauthCrm(), call, { engine: { maxResponseBytes: 1024 } });
    expect(callLines(result)[1]).toBe(
      "        GET http://127.0.0.1:API/accounts → response too large (1 attempt, token fetched)",
    );
  });

  it("an expired token refreshed: the new token is named as such", async () => {
    api.handle((request, response, raw) => {
      if (bearerOf(request) === "token-1") answer(response, 401, {});
      else apiOk(request, response, raw);
    });
    const result = await runWith(oauthCrm());
    expect(callLines(result)[1]).toBe(
      "        GET http://127.0.0.1:API/accounts → 200 (2 attempts, token rejected, new token fetched)",
    );
  });

  it("an expired token whose refresh fails: the 401 stands and no new token is claimed", async () => {
    api.handle((_request, response) => answer(response, 401, {}));
    tokens.enqueue(tokenAnswer({ access_token: "token-1" }), oauthError("invalid_grant", "revoked"));
    const result = await runWith(oauthCrm());
    expect(callLines(result)[1]).toBe(
      "        GET http://127.0.0.1:API/accounts → 401 (1 attempt, token rejected, no new token)",
    );
  });

  it("halted on an inactive connector: marked halted, not ✓", async () => {
    const result = await runWith({ ...oauthCrm(), status: "inactive" } as ConnectorInput);
    expect(result.status).toBe("halted");
    expect(callLines(result)).toEqual(["  1 ■ call http-request → halted _ ms", '        connector "CRM"']);
  });
});

describe("hints for causes a newcomer can fix", () => {
  it("an env secret not set: names the variable, claims no token and no URL", async () => {
    const engineEnv = { engine: { secrets: { env: {} } } };
    const result = await runWith(oauthCrm(), call, engineEnv);
    expect(callLines(result)).toEqual([
      "  1 ✗ call http-request → error _ ms",
      "        GET not sent: no credentials",
      '        error [auth]: connector "CRM": secret auth.clientSecret of connector "CRM": environment variable CRM_SECRET is not set',
      '        hint: set the environment variable CRM_SECRET: connector "CRM" reads its auth.clientSecret from it',
    ]);
    expect(httpTraceOf(result.trace[0]!)).toMatchObject({
      credentials: "failed",
      cause: { code: "secret-env-unset", connector: "CRM", field: "auth.clientSecret", env: "CRM_SECRET" },
    });
  });

  it("a file secret missing: names the path, relative to the connectors file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "flowrun-hint-"));
    const withFile = oauthCrm({
      auth: {
        type: "oauth2",
        clientId: "flows",
        clientSecret: { file: "secrets/crm.txt" },
        tokenUrl: tokens.url(),
      },
    });
    const result = await runWith(withFile, call, { engine: { secrets: { env: {}, baseDir: dir } } });
    const hints = cliHints({ ...noFlags, cwd: dir, connectorsFile: "config/connectors.json" });
    expect(callLines(result, hints).at(-1)).toBe(
      '        hint: connector "CRM" reads its auth.clientSecret from the file config/secrets/crm.txt (ENOENT); create it or fix the path in the connectors file',
    );
  });

  it("plain http to loopback without --allow-loopback-http", async () => {
    const run = await runHttp(
      { allowLoopbackHttp: false },
      { useAuthenticatedEndpoint: false, requestUrl: "{{ 'http://127.0.0.1:9/x' }}" },
    );
    expect(callLines(run.result)).toEqual([
      "  1 ✗ call http-request → error _ ms",
      "        GET not sent: invalid request",
      "        error [invalid-request]: requestUrl uses plain http:// to a loopback host; allow it with the engine option allowLoopbackHttp (--allow-loopback-http)",
      "        hint: requestUrl is plain http:// to this machine; add --allow-loopback-http to reach a local test server",
    ]);
  });

  it("no hint without a fixable cause, and none at all without the CLI's hint source", async () => {
    const result = await runWith(oauthCrm(), call, { engine: { secrets: { env: {} } } });
    const plain = formatTrace("t", result, paint(false));
    expect(plain).not.toContain("hint:");
    expect(JSON.stringify(result)).not.toContain("hint");
  });
});

describe("the two commands the trace must describe truly", () => {
  const flow = "fixtures/flows/crm-lookup.flow.json";

  it("a missing secret: not sent, the variable named, no token or URL claimed", async () => {
    const env = { ...process.env };
    delete env.CRM_CLIENT_SECRET;
    const run = await cli(["run", flow, "--connectors", "fixtures/connectors.json"], { env });
    // The flow's error path completes the run, but a misconfiguration is not a success: its own exit code.
    expect(run.stdout).toContain("COMPLETED");
    expect(run.code).toBe(4);
    const lines = run.stdout.split("\n");
    expect(lines[1]).toMatch(/^ {2}1 ✗ lookup http-request → error \d+\.\d ms$/);
    expect(lines[2]).toBe("        GET not sent: no credentials");
    expect(lines[4]).toBe(
      '        hint: set the environment variable CRM_CLIENT_SECRET: connector "CRM" reads its auth.clientSecret from it',
    );
    expect(run.stdout).not.toMatch(/token (cached|fetched)|GET \?|https:\/\/crm/);
  });

  it("a secret file that cannot be read is a configuration problem too: exit 4 and the file named", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "flowrun-secret-file-"));
    const connectors = JSON.parse(
      await import("node:fs/promises").then((fs) => fs.readFile("fixtures/connectors.json", "utf8")),
    ) as { connectors: { name: string; auth: { clientSecret?: unknown } }[] };
    const crm = connectors.connectors.find((connector) => connector.name === "CRM");
    if (!crm) throw new Error("fixtures/connectors.json has no CRM connector");
    crm.auth.clientSecret = { file: "missing-secret.txt" };
    const connectorsFile = path.join(dir, "connectors.json");
    writeFileSync(connectorsFile, JSON.stringify(connectors));
    const run = await cli(["run", flow, "--connectors", connectorsFile]);
    expect(run.code).toBe(4);
    expect(run.stdout).toContain("GET not sent: no credentials");
    expect(run.stdout).toContain("missing-secret.txt");
  });

  it("no --connectors: a halted mark and a hint naming the connectors file nearby", async () => {
    const run = await cli(["run", flow]);
    expect(run.code).toBe(4); // an unknown connector is a configuration problem, not an ordinary halt
    const lines = run.stdout.split("\n");
    expect(lines[1]).toMatch(/^ {2}1 ■ lookup http-request → halted \d+\.\d ms$/);
    expect(lines).toContain(
      '        hint: no --connectors was given, so connector "CRM" is unknown; try --connectors fixtures/connectors.json',
    );
  });

  it("no --connectors and no connectors.json nearby: says to pass one", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "flowrun-hint-"));
    const flowFile = path.join(dir, "deep", "f.flow.json");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(flowFile)));
    writeFileSync(flowFile, JSON.stringify(oneCallFlow(call)));
    const run = await cli(["run", "deep/f.flow.json"], { cwd: dir });
    expect(run.stdout).toContain(
      'hint: no --connectors was given (and there is no connectors.json beside the flow), so connector "CRM" is unknown; pass --connectors FILE',
    );
  });

  it("--json carries no hints", async () => {
    const run = await cli(["run", flow, "--json"]);
    expect(run.stdout).not.toContain("hint");
    expect(JSON.parse(run.stdout).status).toBe("halted");
  });
});
