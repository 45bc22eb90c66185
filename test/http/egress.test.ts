import { MockAgent } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EgressLookup } from "../../src/http/egress.js";
import { createEngine, type EngineOptions } from "../../src/runtime/create-engine.js";
import { connectorsDoc, memoryRegistry } from "../auth-e2e/harness.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/certificates.js";
import { httpFlow, runHttp } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, startHttpsServer } from "../helpers/servers.js";
import { TestConnectorResolver, testConnector } from "../helpers/test-connectors.js";

let tls: TestCertificates;
let server: LoopbackServer;

beforeAll(async () => {
  tls = makeTestCertificates();
  server = await startHttpsServer(tls, (request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(
      request.url === "/token"
        ? JSON.stringify({ access_token: "t-1", token_type: "Bearer", expires_in: 3600 })
        : JSON.stringify({ ok: true }),
    );
  });
});
afterAll(closeAllServers);
beforeEach(() => {
  server.received.length = 0;
  server.connections.count = 0;
  server.servernames.length = 0;
});

/** A DNS stand-in: each name answers the addresses listed (in order, per call when given a list of answers). */
function fakeLookup(table: Record<string, string[] | string[][]>): EgressLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (hostname: string) => {
    calls.push(hostname);
    const entry = table[hostname];
    if (!entry) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    const answers = Array.isArray(entry[0]) ? (entry as string[][]) : [entry as string[]];
    const answer = answers[Math.min(calls.filter((c) => c === hostname).length - 1, answers.length - 1)]!;
    return answer.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(lookup, { calls });
}

const get = (requestUrl: string) => ({ useAuthenticatedEndpoint: false, requestUrl, timeoutMs: 4000 });

async function expectRefused(url: string, options: EngineOptions, rule: RegExp) {
  const run = await runHttp({ ca: tls.ca, ...options }, get(url));
  expect(run.outputs.error?.kind, url).toBe("egress-denied");
  expect(run.outputs.error?.message, url).toMatch(rule);
  expect(run.entry.outcome).toBe("error");
  expect(run.outputs.statusCode).toBeNull();
  expect(run.http.attempts, `${url}: nothing was sent`).toBe(0);
  expect(server.connections.count, `${url} reached the server`).toBe(0);
}

describe("egress policy: the loopback server sees no connection for refused destinations", () => {
  const loopbackForms = [
    "127.0.0.1",
    "localhost",
    "LOCALHOST.",
    "api.localhost",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "017700000001",
    "127.0.0.1.",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]",
  ];
  for (const host of loopbackForms) {
    it(`refuses https://${host}:PORT as loopback`, async () => {
      await expectRefused(`https://${host}:${server.port}/x`, {}, /loopback address/);
    });
  }

  const inward: [string, RegExp][] = [
    ["10.1.2.3", /10\.1\.2\.3 is a private address \(RFC 1918/],
    ["172.16.0.1", /private address/],
    ["192.168.1.1", /private address/],
    ["100.64.0.1", /shared address \(100\.64\.0\.0\/10\)/],
    ["169.254.10.1", /link-local address/],
    ["169.254.169.254", /169\.254\.169\.254 is a cloud metadata address/],
    ["0251.0376.0251.0376", /169\.254\.169\.254 is a cloud metadata address/],
    ["[fd00:ec2::254]", /fd00:ec2::254 is a cloud metadata address/],
    ["[fe80::1]", /link-local address/],
    ["[fc00::1]", /unique-local address/],
    ["[fd12:3456::1]", /unique-local address/],
    ["0.0.0.0", /unspecified address/],
    ["0", /unspecified address/],
    ["[::]", /unspecified address/],
    ["224.0.0.1", /multicast address/],
    ["[ff02::1]", /multicast address/],
    ["255.255.255.255", /broadcast address/],
    ["[::ffff:10.0.0.1]", /private address/],
    ["[::127.0.0.1]", /IPv4-compatible IPv6 address/],
    ["[64:ff9b::a00:1]", /private address/],
    ["[2002:c0a8:101::1]", /private address/],
    ["[fec0::1]", /site-local address/],
  ];
  for (const [host, rule] of inward) {
    it(`refuses https://${host}/ at once, without a connect attempt`, async () => {
      // A connect attempt to these would hang or fail as `network`; the refusal comes first.
      await expectRefused(`https://${host}/latest/meta-data/`, {}, rule);
    });
  }

  it("refuses a name that resolves to 127.0.0.1, checked on the resolved address", async () => {
    const lookup = fakeLookup({ "inward.flowrun.test": ["127.0.0.1"] });
    await expectRefused(
      `https://inward.flowrun.test:${server.port}/x`,
      { egressLookup: lookup },
      /inward\.flowrun\.test \(127\.0\.0\.1\) is a loopback address/,
    );
    expect(lookup.calls).toEqual(["inward.flowrun.test"]);
  });

  it("refuses a name when any of its addresses is inward, whatever their order", async () => {
    for (const answer of [
      ["8.8.8.8", "10.0.0.7"],
      ["10.0.0.7", "8.8.8.8"],
      ["2001:4860:4860::8888", "::1"],
    ]) {
      const lookup = fakeLookup({ "mixed.flowrun.test": answer });
      await expectRefused(
        `https://mixed.flowrun.test:${server.port}/x`,
        { egressLookup: lookup },
        /mixed\.flowrun\.test \((10\.0\.0\.7|::1)\)/,
      );
    }
  });

  it("a refusal is final: no retry, zero attempts in the trace (nothing was sent)", async () => {
    const lookup = fakeLookup({ "inward.flowrun.test": ["10.0.0.9"] });
    const run = await runHttp(
      { ca: tls.ca, egressLookup: lookup },
      { ...get(`https://inward.flowrun.test:${server.port}/x`), retries: 3 },
    );
    expect(run.outputs.error?.kind).toBe("egress-denied");
    expect(run.http.attempts).toBe(0);
    expect(run.http.url).toBe(`https://inward.flowrun.test:${server.port}/x`);
    // A retry would open (and check) a new connection: one lookup means one decision.
    expect(lookup.calls).toEqual(["inward.flowrun.test"]);
  });

  it("reports a name that does not resolve as network, not egress-denied", async () => {
    const run = await runHttp(
      { ca: tls.ca, egressLookup: fakeLookup({}) },
      get(`https://nowhere.flowrun.test:${server.port}/x`),
    );
    expect(run.outputs.error?.kind).toBe("network");
    expect(run.outputs.error?.message).toContain("ENOTFOUND");
  });
});

describe("egress policy: allowed destinations go through", () => {
  it("allowLoopbackHttp also allows loopback destinations", async () => {
    const run = await runHttp(
      { ca: tls.ca, allowLoopbackHttp: true },
      get(`https://127.0.0.1:${server.port}/ok`),
    );
    expect(run.entry.outcome).toBe("success");
    expect(server.received.map((r) => r.url)).toEqual(["/ok"]);
  });

  it("an allowed address or CIDR lets that destination through, and only that one", async () => {
    for (const allow of ["127.0.0.1", "127.0.0.0/8", "::ffff:127.0.0.0/104"]) {
      const run = await runHttp(
        { ca: tls.ca, egressAllow: [allow] },
        get(`https://127.0.0.1:${server.port}/ok`),
      );
      expect(run.entry.outcome, allow).toBe("success");
    }
    expect(server.received).toHaveLength(3);
    server.connections.count = 0;
    await expectRefused(`https://10.1.2.3/`, { egressAllow: ["127.0.0.1"] }, /private address/);
  });

  it("an allowed host name connects to its (inward) address with the name kept for SNI and the certificate", async () => {
    const lookup = fakeLookup({ "crm.flowrun.test": ["127.0.0.1"] });
    const run = await runHttp(
      { ca: tls.ca, egressAllow: ["crm.flowrun.test"], egressLookup: lookup },
      get(`https://crm.flowrun.test:${server.port}/ok`),
    );
    expect(run.entry.outcome).toBe("success");
    expect(server.servernames).toEqual(["crm.flowrun.test"]);
  });

  it("resolves once per new connection, not per request, and connects to the address it checked", async () => {
    const lookup = fakeLookup({ "pool.flowrun.test": ["127.0.0.1"] });
    const engine = createEngine({ ca: tls.ca, egressAllow: ["127.0.0.1/32"], egressLookup: lookup });
    try {
      const flow = engine.compile(httpFlow(get(`https://pool.flowrun.test:${server.port}/ok`)));
      for (let i = 0; i < 6; i++) expect((await flow.run()).variables.out).toMatchObject({ statusCode: 200 });
    } finally {
      await engine.close();
    }
    expect(server.received).toHaveLength(6);
    // Pooled connections are reused without a lookup: one lookup per connection the server accepted.
    expect(lookup.calls.length).toBe(server.connections.count);
    expect(server.connections.count).toBeLessThan(6);
  });

  it("an answer that changes after the check cannot redirect the connection (no second resolution)", async () => {
    // The first answer is allowed, every later one inward. The name exists only in this lookup, so a socket that
    // resolved the name again by itself could not connect at all; the first connection reaches the server with
    // the name as SNI, the next new connection is refused on its own fresh answer.
    const lookup = fakeLookup({ "rebind.flowrun.test": [["127.0.0.1"], ["10.9.9.9"]] });
    const options = { ca: tls.ca, egressAllow: ["127.0.0.1/32"], egressLookup: lookup };
    const first = await runHttp(options, get(`https://rebind.flowrun.test:${server.port}/ok`));
    expect(first.outputs.statusCode).toBe(200);
    expect(server.servernames).toEqual(["rebind.flowrun.test"]);
    server.connections.count = 0;
    await expectRefused(
      `https://rebind.flowrun.test:${server.port}/ok`,
      options,
      /rebind\.flowrun\.test \(10\.9\.9\.9\) is a private address/,
    );
    expect(lookup.calls).toEqual(["rebind.flowrun.test", "rebind.flowrun.test"]);
  });

  it("refuses an allow entry that is neither a range, an address nor a name", () => {
    expect(() => createEngine({ egressAllow: ["10.0.0.0/99"] })).toThrow(/not a valid CIDR range/);
    expect(() => createEngine({ egressAllow: ["not a host!"] })).toThrow(/neither a CIDR range/);
  });
});

describe("egress policy and connectors", () => {
  const crmConnector = () =>
    connectorsDoc({
      id: "crm-1",
      name: "CRM",
      type: "custom",
      resourceDomainUrl: `${server.url}/api`,
      auth: {
        type: "oauth2",
        clientId: "flows",
        clientSecret: { env: "CRM_SECRET" },
        tokenUrl: `${server.url}/token`,
      },
    } as never);
  const call = { connector: "CRM", requestPath: "/accounts", timeoutMs: 4000 };

  it("trusts connector base URLs and token endpoints on private addresses by default", async () => {
    const run = await runHttp(
      { ca: tls.ca, connectors: memoryRegistry(crmConnector()), secrets: { env: { CRM_SECRET: "s3cret" } } },
      call,
    );
    expect(run.entry.outcome).toBe("success");
    expect(server.received.map((r) => r.url)).toEqual(["/token", "/api/accounts"]);
  });

  it("egressPolicyForConnectors applies the policy to the token endpoint and the base URL", async () => {
    const run = await runHttp(
      {
        ca: tls.ca,
        connectors: memoryRegistry(crmConnector()),
        secrets: { env: { CRM_SECRET: "s3cret" } },
        egressPolicyForConnectors: true,
      },
      call,
    );
    expect(run.outputs.error?.kind).toBe("egress-denied");
    expect(run.outputs.error?.message).toMatch(/connector "CRM": .*127\.0\.0\.1 is a loopback address/);
    expect(run.http.attempts).toBe(0);
    expect(server.connections.count).toBe(0);

    const resolver = new TestConnectorResolver([
      testConnector({ name: "CRM", baseUrl: `${server.url}/api` }),
    ]);
    const basic = await runHttp({ ca: tls.ca, connectors: resolver, egressPolicyForConnectors: true }, call);
    expect(basic.outputs.error?.kind).toBe("egress-denied");
    expect(server.connections.count).toBe(0);
  });

  it("a refused token endpoint is egress-denied at once, not retried as an unreachable one", async () => {
    const lookup = fakeLookup({ "auth.flowrun.test": ["127.0.0.1"] });
    const authServer = `https://auth.flowrun.test:${server.port}`;
    const connectors = memoryRegistry(
      connectorsDoc({
        id: "crm-2",
        name: "CRM",
        type: "custom",
        resourceDomainUrl: "https://203.0.113.10/api",
        auth: {
          type: "oauth2",
          clientId: "flows",
          clientSecret: { env: "S" },
          tokenUrl: `${authServer}/token`,
        },
      } as never),
    );
    const run = await runHttp(
      {
        ca: tls.ca,
        connectors,
        secrets: { env: { S: "s" } },
        egressPolicyForConnectors: true,
        egressLookup: lookup,
      },
      call,
    );
    expect(run.outputs.error?.kind).toBe("egress-denied");
    expect(run.outputs.error?.message).toMatch(/auth\.flowrun\.test \(127\.0\.0\.1\) is a loopback address/);
    expect(run.http.attempts).toBe(0);
    // The token client retries unreachable endpoints; a refusal must not be one of them.
    expect(lookup.calls).toEqual(["auth.flowrun.test"]);
    expect(server.connections.count).toBe(0);
  });

  it("a flow-authored URL never rides on a pooled connection of a trusted connector", async () => {
    const resolver = new TestConnectorResolver([
      testConnector({ name: "CRM", baseUrl: `${server.url}/api` }),
    ]);
    const engine = createEngine({ ca: tls.ca, connectors: resolver });
    try {
      const viaConnector = await engine.compile(httpFlow(call)).run();
      expect((viaConnector.variables.out as { statusCode: number }).statusCode).toBe(200);
      const direct = await engine.compile(httpFlow(get(`${server.url}/api/accounts`))).run();
      expect((direct.variables.out as { error: { kind: string } }).error.kind).toBe("egress-denied");
      expect(server.received).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });
});

describe("egress policy with an injected dispatcher (replay, a host's own Agent)", () => {
  function mockAgent() {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const seen: string[] = [];
    agent
      .get(() => true)
      .intercept({ path: () => true, method: () => true })
      .reply((options) => {
        seen.push(`${options.origin}${options.path}`);
        return {
          statusCode: 200,
          data: "{}",
          responseOptions: { headers: { "content-type": "application/json" } },
        };
      })
      .persist();
    return { agent, seen };
  }

  it("refuses IP literals in any notation and localhost before they reach the dispatcher", async () => {
    const { agent, seen } = mockAgent();
    for (const host of [
      "10.1.2.3",
      "169.254.169.254",
      "0xa9.0xfe.0xa9.0xfe",
      "[::ffff:a9fe:a9fe]",
      "localhost",
    ]) {
      const run = await runHttp({ dispatcher: agent }, get(`https://${host}/x`));
      expect(run.outputs.error?.kind, host).toBe("egress-denied");
      expect(run.http.attempts, host).toBe(0);
    }
    expect(seen).toEqual([]);
    const allowed = await runHttp(
      { dispatcher: agent, egressAllow: ["10.1.2.3"] },
      get("https://10.1.2.3/x"),
    );
    expect(allowed.entry.outcome).toBe("success");
    const named = await runHttp({ dispatcher: agent }, get("https://api.example.com/x"));
    expect(named.entry.outcome).toBe("success");
    expect(seen).toEqual(["https://10.1.2.3/x", "https://api.example.com/x"]);
    await agent.close();
  });

  it("connectors through an injected dispatcher are trusted unless egressPolicyForConnectors", async () => {
    const { agent, seen } = mockAgent();
    const resolver = new TestConnectorResolver([
      testConnector({ name: "CRM", baseUrl: "https://10.0.0.5/api" }),
    ]);
    const call = { connector: "CRM", requestPath: "/a" };
    expect((await runHttp({ dispatcher: agent, connectors: resolver }, call)).entry.outcome).toBe("success");
    const policed = await runHttp(
      { dispatcher: agent, connectors: resolver, egressPolicyForConnectors: true },
      call,
    );
    expect(policed.outputs.error?.kind).toBe("egress-denied");
    expect(seen).toEqual(["https://10.0.0.5/api/a"]);
    await agent.close();
  });
});
