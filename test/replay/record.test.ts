import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { envWithoutSecrets, readJson, tempDir, writeHelpdeskConnectors, writeJson } from "./helpers.js";

const CLIENT_ID = "ivr-recorder";
const CLIENT_SECRET = "rec-secret-Zq8!vW3m_only-in-env";
const ACCESS_TOKEN = "at-9f1c2b7e-recorded-access-token";
const REFRESH_TOKEN = "rt-55aa33cc-recorded-refresh-token";

/** RFC 6749 2.3.1: the client id and secret are form-urlencoded before they are joined and base64-encoded. */
function basicClient(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header?.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const [id = "", secret = ""] = decoded.split(":");
  const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, " "));
  return { id: formDecode(id), secret: formDecode(secret) };
}

let server: LoopbackServer;
let tokenRequests = 0;

beforeAll(async () => {
  server = await startHttpServer((request, response) => {
    response.setHeader("content-type", "application/json");
    response.setHeader("set-cookie", `session=${ACCESS_TOKEN}`);
    if (request.method === "POST" && request.url === "/oauth/token") {
      tokenRequests++;
      const form = new URLSearchParams(request.body);
      const client = basicClient(request.headers.authorization);
      if (
        client?.id !== CLIENT_ID ||
        client.secret !== CLIENT_SECRET ||
        form.get("grant_type") !== "client_credentials"
      ) {
        response.statusCode = 401;
        response.end(JSON.stringify({ error: "invalid_client" }));
        return;
      }
      response.end(
        JSON.stringify({
          access_token: ACCESS_TOKEN,
          refresh_token: REFRESH_TOKEN,
          token_type: "Bearer",
          expires_in: 3600,
        }),
      );
      return;
    }
    if (request.headers.authorization !== `Bearer ${ACCESS_TOKEN}`) {
      response.statusCode = 401;
      response.end(JSON.stringify({ error: "unauthorized" }));
      return;
    }
    const url = new URL(request.url, server.url);
    if (request.method === "GET" && url.pathname === "/api/tickets") {
      const phone = url.searchParams.get("phone");
      response.end(
        JSON.stringify({ tickets: [{ id: phone === "+15550001111" ? "T-4410" : "T-9000", status: "open" }] }),
      );
      return;
    }
    response.statusCode = 404;
    response.end(JSON.stringify({ error: "not_found" }));
  });
});

afterAll(closeAllServers);

const flow = {
  $schema: "../../schema/flow.schema.json",
  name: "ticket-status",
  description: "Find the caller's open support ticket",
  variables: { ticketId: { type: "string" }, ticketStatus: { type: "string" } },
  start: "findTicket",
  onError: "supportQueue",
  activities: {
    findTicket: {
      type: "http-request",
      connector: "Helpdesk",
      requestPath: "/api/tickets",
      method: "GET",
      queryParameters: { phone: "{{ contact.ani }}", state: "open" },
      parseSettings: [
        { outputVariable: "ticketId", pathExpression: "$.tickets[0].id", required: true },
        { outputVariable: "ticketStatus", pathExpression: "$.tickets[0].status" },
      ],
      next: { success: "tell", error: "supportQueue" },
    },
    tell: {
      type: "play-message",
      prompt: "Your ticket {{ ticketId }} is {{ ticketStatus }}.",
      next: { default: "supportQueue" },
    },
    supportQueue: { type: "queue-contact", queue: "Support", next: { default: "end" } },
    end: { type: "end-flow" },
  },
};

async function setUp(): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await tempDir("flowrun-record-");
  await writeJson(path.join(dir, "ticket-status.flow.json"), flow);
  await writeHelpdeskConnectors(dir, server.url, { id: CLIENT_ID, secretEnv: "REC_SECRET" });
  return { dir, env: envWithoutSecrets({ REC_SECRET: CLIENT_SECRET }) };
}

const record = (dir: string, env: NodeJS.ProcessEnv, name: string, ani: string) =>
  cli(
    [
      "record",
      "ticket-status.flow.json",
      "--case",
      name,
      "--out",
      "ticket-status.test.json",
      "--connectors",
      "connectors.json",
      "--allow-loopback-http",
      "--contact",
      `ani=${ani}`,
    ],
    { cwd: dir, env },
  );

interface Recorded {
  flow: string;
  connectors: string;
  cases: {
    name: string;
    contact: Record<string, string>;
    exchanges: { request: { method: string; url: string; body?: unknown }; response: { body?: unknown } }[];
    expect: { status: string; path: string[]; variables: Record<string, unknown> };
  }[];
}

describe("flowrun record, then flowrun test", () => {
  it("records a live run with its token exchange, secrets redacted, and the recording replays", async () => {
    const { dir, env } = await setUp();
    const before = tokenRequests;
    const received = server.received.length;
    const recorded = await record(dir, env, "open ticket is read out", "+15550001111");
    expect(recorded.stderr).toBe("");
    expect(recorded.stdout).not.toContain("✗");
    expect(recorded.code).toBe(0);
    expect(recorded.stdout).toContain('recorded case "open ticket is read out" with 2 exchanges');
    expect(tokenRequests).toBe(before + 1);

    const sent = server.received.slice(received);
    const basicHeader = sent[0]?.headers.authorization;
    expect(basicClient(basicHeader)).toEqual({ id: CLIENT_ID, secret: CLIENT_SECRET });
    expect(sent[1]?.headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);

    const file = path.join(dir, "ticket-status.test.json");
    const text = await readFile(file, "utf8");
    for (const secret of [
      CLIENT_SECRET,
      Buffer.from(CLIENT_SECRET).toString("base64"),
      Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64"),
      String(basicHeader),
      String(basicHeader).slice("Basic ".length),
      ACCESS_TOKEN,
      REFRESH_TOKEN,
    ]) {
      expect(text).not.toContain(secret);
    }
    const test = await readJson<Recorded>(file);
    expect(test.flow).toBe("./ticket-status.flow.json");
    expect(test.connectors).toBe("./connectors.json");
    const [only] = test.cases;
    expect(only?.contact).toEqual({ ani: "+15550001111" });
    expect(only?.exchanges.map((e) => `${e.request.method} ${e.request.url}`)).toEqual([
      `POST ${server.url}/oauth/token`,
      `GET ${server.url}/api/tickets?phone=%2B15550001111&state=open`,
    ]);
    expect(only?.exchanges[0]?.request.body).toEqual({ grant_type: "client_credentials" });
    expect(only?.exchanges[0]?.response.body).toEqual({
      access_token: "[REDACTED]",
      refresh_token: "[REDACTED]",
      token_type: "Bearer",
      expires_in: 3600,
    });
    expect(only?.expect.status).toBe("completed");
    expect(only?.expect.path).toEqual(["findTicket", "tell", "supportQueue", "end"]);
    expect(only?.expect.variables).toMatchObject({ ticketId: "T-4410", ticketStatus: "open" });

    // CI: no secret in the environment; replay never touches the network (the MockAgent refuses net connects)
    const replayed = await cli(["test", "ticket-status.test.json"], { cwd: dir, env: envWithoutSecrets() });
    expect(replayed.stdout).toContain("✓ ticket-status.test.json › open ticket is read out");
    expect(replayed.stdout).toContain("1 passed, 0 failed");
    expect(replayed.code).toBe(0);
  });
});

describe("flowrun record: the same case name twice", () => {
  it("replaces the case; another name is appended", async () => {
    const { dir, env } = await setUp();
    expect((await record(dir, env, "ticket lookup", "+15550001111")).code).toBe(0);
    expect((await record(dir, env, "ticket lookup", "+15550002222")).code).toBe(0);
    let test = await readJson<Recorded>(path.join(dir, "ticket-status.test.json"));
    expect(test.cases.map((c) => [c.name, c.contact.ani, c.expect.variables.ticketId])).toEqual([
      ["ticket lookup", "+15550002222", "T-9000"],
    ]);
    expect((await record(dir, env, "another caller", "+15550001111")).code).toBe(0);
    test = await readJson<Recorded>(path.join(dir, "ticket-status.test.json"));
    expect(test.cases.map((c) => c.name)).toEqual(["ticket lookup", "another caller"]);
    const replayed = await cli(["test", "."], { cwd: dir, env: envWithoutSecrets() });
    expect(replayed.stdout).toContain("2 passed, 0 failed");
    expect(replayed.code).toBe(0);
  });
});

describe("flowrun run --replay", () => {
  it("prints the full trace of a recorded case and exits by the run status", async () => {
    const { dir, env } = await setUp();
    await record(dir, env, "open ticket", "+15550001111");
    const run = await cli(
      ["run", "ticket-status.flow.json", "--replay", "ticket-status.test.json", "--case", "open ticket"],
      { cwd: dir, env: envWithoutSecrets() },
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("flow ticket-status");
    expect(run.stdout).toMatch(/1 ✓ findTicket http-request → success/);
    expect(run.stdout).toContain(`GET ${server.url}/api/tickets?phone=%2B15550001111&state=open → 200`);
    expect(run.stdout).toMatch(/2 ✓ tell play-message/);
    expect(run.stdout).toContain("COMPLETED at end");
    expect(run.stdout).toContain('ticketId = "T-4410"');
    expect(run.stdout).not.toContain(ACCESS_TOKEN);
  });

  it("exits 3 for a replayed fixture case that halts", async () => {
    const fixtures = path.resolve(import.meta.dirname, "../../fixtures/flows");
    const run = await cli(
      [
        "run",
        path.join(fixtures, "order-status.flow.json"),
        "--replay",
        path.join(fixtures, "order-status.test.json"),
        "--case",
        "CRM connector deactivated: routing halts, nothing is sent",
      ],
      { env: envWithoutSecrets() },
    );
    expect(run.stdout).toContain("HALTED");
    expect(run.code).toBe(3);
  });

  it("an unknown case name exits 2 and lists the cases", async () => {
    const { dir, env } = await setUp();
    await record(dir, env, "open ticket", "+15550001111");
    await record(dir, env, "second caller", "+15550002222");
    const run = await cli(
      ["run", "ticket-status.flow.json", "--replay", "ticket-status.test.json", "--case", "no such case"],
      { cwd: dir, env: envWithoutSecrets() },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('ticket-status.test.json has no case "no such case"');
    expect(run.stderr).toContain('its cases: "open ticket", "second caller"');
  });
});
