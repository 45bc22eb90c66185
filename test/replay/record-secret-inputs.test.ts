// `flowrun record` scrubs the whole recorded case, its inputs included (contact, variables, expect), with
// the known-secret rules of the exchanges, and the scrubbed case still replays.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { envWithoutSecrets, readJson, tempDir, writeHelpdeskConnectors, writeJson } from "./helpers.js";

const CLIENT_ID = "ivr-recorder";
/** The connector's client secret, also the caller's API key: `/` and `+` make its URL-encoded forms differ. */
const SECRET = "rec-Secret/77+key!";
const ACCESS_TOKEN = "at-3b9d-recorded-access-token";
/** Known to no connector: a secret only by its input's name (`accountToken`). */
const ACCOUNT_TOKEN = "acct-7781-private";

/** Every spelling of the secret a recorded file could hold. */
const spellings = [
  SECRET,
  encodeURIComponent(SECRET),
  new URLSearchParams({ s: SECRET }).toString().slice(2),
  Buffer.from(SECRET).toString("base64"),
  Buffer.from(SECRET).toString("base64url"),
  Buffer.from(`${CLIENT_ID}:${new URLSearchParams({ s: SECRET }).toString().slice(2)}`).toString("base64"),
  // Fragments: a partial scrub would leave these behind.
  "Secret/77",
  "Secret%2F77",
  ACCOUNT_TOKEN,
];

let server: LoopbackServer;

beforeAll(async () => {
  server = await startHttpServer((request, response) => {
    response.setHeader("content-type", "application/json");
    if (request.method === "POST" && request.url === "/oauth/token") {
      const basic = Buffer.from((request.headers.authorization ?? "").slice(6), "base64").toString("utf8");
      const ok = basic === `${CLIENT_ID}:${new URLSearchParams({ s: SECRET }).toString().slice(2)}`;
      response.statusCode = ok ? 200 : 401;
      response.end(
        JSON.stringify(
          ok
            ? { access_token: ACCESS_TOKEN, token_type: "Bearer", expires_in: 3600 }
            : { error: "invalid_client" },
        ),
      );
      return;
    }
    const url = new URL(request.url, server.url);
    // The live run really sends the secret in the query and the headers; anything else is refused.
    const sentRight =
      request.headers.authorization === `Bearer ${ACCESS_TOKEN}` &&
      url.pathname === "/api/caller" &&
      url.searchParams.get("pin") === SECRET &&
      url.searchParams.get("ref") === SECRET &&
      request.headers["x-caller-pin"] === SECRET &&
      request.headers["x-ref"] === SECRET &&
      url.searchParams.get("account") === ACCOUNT_TOKEN;
    response.statusCode = sentRight ? 200 : 400;
    response.end(JSON.stringify(sentRight ? { tier: "gold" } : { error: "bad request" }));
  });
});

afterAll(closeAllServers);

const flow = {
  name: "caller-lookup",
  variables: {
    ref: { type: "string" },
    refBase64: { type: "string" },
    tier: { type: "string" },
    copiedPin: { type: "string" },
  },
  start: "lookup",
  activities: {
    lookup: {
      type: "http-request",
      connector: "Helpdesk",
      requestPath: "/api/caller",
      method: "GET",
      queryParameters: {
        pin: "{{ contact.pin }}",
        ref: "{{ ref }}",
        account: "{{ contact.accountToken }}",
        state: "open",
      },
      headers: { "X-Caller-Pin": "{{ contact.pin }}", "X-Ref": "{{ ref }}" },
      parseSettings: [{ outputVariable: "tier", pathExpression: "$.tier", required: true }],
      next: { success: "copy", error: "end" },
    },
    copy: {
      type: "set-variable",
      assignments: [{ variable: "copiedPin", value: "{{ contact.pin }}" }],
      next: { default: "tell" },
    },
    tell: { type: "play-message", prompt: "Tier {{ tier }}, reference {{ ref }}.", next: { default: "end" } },
    end: { type: "end-flow" },
  },
};

async function setUp(): Promise<string> {
  const dir = await tempDir("flowrun-record-inputs-");
  await writeJson(path.join(dir, "caller-lookup.flow.json"), flow);
  await writeHelpdeskConnectors(dir, server.url, { id: CLIENT_ID, secretEnv: "REC_INPUT_SECRET" });
  return dir;
}

interface RecordedCase {
  contact: Record<string, string>;
  variables: Record<string, string>;
  exchanges: { request: { url: string } }[];
  expect: { status: string; variables: Record<string, unknown>; actions: { prompt?: string }[] };
}

describe("flowrun record: secrets among the run's inputs", () => {
  it("scrubs the secret from contact, variables, exchanges and expect, in every encoding, and the case replays", async () => {
    const dir = await setUp();
    const recorded = await cli(
      [
        "record",
        "caller-lookup.flow.json",
        "--case",
        "caller with a key",
        "--out",
        "caller-lookup.test.json",
        "--connectors",
        "connectors.json",
        "--allow-loopback-http",
        "--contact",
        `pin=${SECRET}`,
        "--contact",
        `pinQuoted=${encodeURIComponent(SECRET)}`,
        "--contact",
        "ani=+15550001111",
        "--contact",
        `accountToken=${ACCOUNT_TOKEN}`,
        "--var",
        `ref=${SECRET}`,
        "--var",
        `refBase64=${Buffer.from(SECRET).toString("base64")}`,
      ],
      { cwd: dir, env: envWithoutSecrets({ REC_INPUT_SECRET: SECRET }) },
    );
    expect(recorded.stderr).toBe("");
    expect(recorded.code).toBe(0);
    expect(recorded.stdout).toContain('recorded case "caller with a key" with 2 exchanges');

    const file = path.join(dir, "caller-lookup.test.json");
    const text = await readFile(file, "utf8");
    for (const spelling of spellings)
      expect(text, `the recorded file holds ${spelling}`).not.toContain(spelling);

    const [only] = (await readJson<{ cases: RecordedCase[] }>(file)).cases;
    // Scrubbed, not dropped: the inputs are still there, the secret replaced where it stood.
    expect(only?.contact).toEqual({
      pin: "[REDACTED]",
      pinQuoted: "[REDACTED]",
      ani: "+15550001111",
      accountToken: "[REDACTED]",
    });
    expect(only?.variables).toEqual({ ref: "[REDACTED]", refBase64: "[REDACTED]" });
    expect(only?.exchanges[1]?.request.url).toBe(
      `${server.url}/api/caller?pin=[REDACTED]&ref=[REDACTED]&account=[REDACTED]&state=open`,
    );
    expect(only?.expect.status).toBe("completed");
    expect(only?.expect.variables).toMatchObject({
      tier: "gold",
      copiedPin: "[REDACTED]",
      ref: "[REDACTED]",
    });
    expect(only?.expect.actions).toContainEqual(
      expect.objectContaining({ prompt: "Tier gold, reference [REDACTED]." }),
    );

    // CI holds no secret: the `[REDACTED]` inputs render `[REDACTED]` into the query (sent as %5BREDACTED%5D) and
    // the headers, which the recorded request matches.
    const replayed = await cli(["test", "caller-lookup.test.json"], { cwd: dir, env: envWithoutSecrets() });
    expect(replayed.stdout).toContain("✓ caller-lookup.test.json › caller with a key");
    expect(replayed.stdout).toContain("1 passed, 0 failed");
    expect(replayed.code).toBe(0);
  });
});
