import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { MockAgent } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { CliIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/main.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/certificates.js";
import { httpFlow, runHttp } from "../helpers/http-flows.js";
import {
  closeAllServers,
  type LoopbackServer,
  okJson,
  startHttpServer,
  startHttpsServer,
} from "../helpers/servers.js";
import { TestConnectorResolver, testConnector } from "../helpers/test-connectors.js";

let tls: TestCertificates;
let secure: LoopbackServer;
let plain: LoopbackServer;

beforeAll(async () => {
  tls = makeTestCertificates();
  secure = await startHttpsServer(tls);
  plain = await startHttpServer();
});
afterAll(closeAllServers);
beforeEach(() => {
  secure.received.length = 0;
  plain.received.length = 0;
  plain.handle(okJson);
});

describe("HTTPS and the loopback rule", () => {
  it("reaches an HTTPS server whose CA is given with the ca option", async () => {
    // The server is on loopback, which the egress policy refuses to flow-authored URLs unless allowed.
    const run = await runHttp(
      { ca: tls.ca, egressAllow: ["127.0.0.1"] },
      { useAuthenticatedEndpoint: false, requestUrl: `${secure.url}/x` },
    );
    expect(run.entry.outcome).toBe("success");
    expect(secure.received).toHaveLength(1);
  });

  it("refuses an unknown CA as a network error", async () => {
    const run = await runHttp(
      { egressAllow: ["127.0.0.1"] },
      { useAuthenticatedEndpoint: false, requestUrl: `${secure.url}/x` },
    );
    expect(run.outputs.error?.kind).toBe("network");
    expect(secure.received).toHaveLength(0);
  });

  it("authenticated requests over HTTPS", async () => {
    const resolver = new TestConnectorResolver([
      testConnector({ name: "CRM", baseUrl: `${secure.url}/api` }),
    ]);
    const run = await runHttp({ ca: tls.ca, connectors: resolver }, { connector: "CRM", requestPath: "/a" });
    expect(run.entry.outcome).toBe("success");
    expect(secure.received[0]!.url).toBe("/api/a");
  });

  it("refuses a plain http:// requestUrl without allowLoopbackHttp (at compile time when constant)", async () => {
    const engine = createEngine();
    const problems = engine.validate(
      httpFlow({ useAuthenticatedEndpoint: false, requestUrl: `${plain.url}/x` }),
    );
    expect(problems.map((p) => p.path)).toContain("$.activities.call.requestUrl");
    const run = await runHttp(
      {},
      { useAuthenticatedEndpoint: false, requestUrl: "{{ url }}" },
      {
        variables: { url: `${plain.url}/x` },
      },
    );
    expect(run.outputs.error?.kind).toBe("invalid-request");
    expect(plain.received).toHaveLength(0);
  });

  it("refuses plain http:// to a non-loopback host even with allowLoopbackHttp", async () => {
    const run = await runHttp(
      { allowLoopbackHttp: true },
      { useAuthenticatedEndpoint: false, requestUrl: "{{ url }}" },
      {
        variables: { url: "http://example.com/x" },
      },
    );
    expect(run.outputs.error?.kind).toBe("invalid-request");
  });

  it("refuses credentials inside a requestUrl", async () => {
    const engine = createEngine();
    const problems = engine.validate(
      httpFlow({ useAuthenticatedEndpoint: false, requestUrl: "https://user:pw@api.example.com/x" }),
    );
    expect(problems.map((p) => p.path)).toContain("$.activities.call.requestUrl");
  });
});

describe("injected dispatcher", () => {
  it("sends through an undici MockAgent given as the engine's dispatcher", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    agent
      .get("https://api.example.com")
      .intercept({ path: "/v1/weather?city=Sofia", method: "GET" })
      .reply(200, { temperature: 21 }, { headers: { "content-type": "application/json" } });
    const run = await runHttp(
      { dispatcher: agent },
      {
        useAuthenticatedEndpoint: false,
        requestUrl: "https://api.example.com/v1/weather",
        queryParameters: { city: "Sofia" },
        parseSettings: [{ outputVariable: "temperature", pathExpression: "$.temperature" }],
      },
      { declare: { temperature: { type: "integer" } } },
    );
    expect(run.entry.outcome).toBe("success");
    expect(run.result.variables.temperature).toBe(21);
    agent.assertNoPendingInterceptors();
    await agent.close();
  });
});

describe("flowrun run", () => {
  function collectingIo(cwd: string): CliIo & { out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      stdout: (text) => out.push(text),
      stderr: (text) => err.push(text),
      readStdin: async () => "",
      color: false,
      cwd,
      env: {},
    };
  }

  it("prints the request line of an http-request to a loopback server", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "flowrun-cli-"));
    const flow = httpFlow({
      useAuthenticatedEndpoint: false,
      requestUrl: `${plain.url}/ping`,
      queryParameters: { a: "1" },
    });
    writeFileSync(path.join(dir, "ping.flow.json"), JSON.stringify(flow));
    const io = collectingIo(dir);
    const code = await runCli(["run", "ping.flow.json", "--allow-loopback-http"], io);
    expect(io.err.join("")).toBe("");
    expect(code).toBe(0);
    expect(io.out.join("")).toContain(`GET ${plain.url}/ping?a=1 → 200 (1 attempt)`);
    expect(plain.received).toHaveLength(1);
  });

  it("trusts the CA of --ca", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "flowrun-cli-"));
    writeFileSync(path.join(dir, "ca.pem"), tls.ca);
    writeFileSync(
      path.join(dir, "secure.flow.json"),
      JSON.stringify(httpFlow({ useAuthenticatedEndpoint: false, requestUrl: `${secure.url}/ping` })),
    );
    const io = collectingIo(dir);
    const code = await runCli(
      ["run", "secure.flow.json", "--ca", "ca.pem", "--egress-allow", "127.0.0.1"],
      io,
    );
    expect(code).toBe(0);
    expect(io.out.join("")).toContain(`GET ${secure.url}/ping → 200`);
    expect(await runCli(["run", "secure.flow.json", "--ca", "missing.pem"], collectingIo(dir))).toBe(2);
  });
});
