import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { envWithoutSecrets, readJson, tempDir, writeJson } from "./helpers.js";

const WEATHER_KEY = "wk-3c9e7f1a-only-in-env";
const INVENTORY_KEY = "ik-8b2d4e6f-only-in-a-file";

let server: LoopbackServer;

beforeAll(async () => {
  server = await startHttpServer((request, response) => {
    response.setHeader("content-type", "application/json");
    const url = new URL(request.url, server.url);
    // The default header, no prefix.
    if (url.pathname === "/weather" && request.headers["x-api-key"] === WEATHER_KEY) {
      response.end(JSON.stringify({ forecast: "sunny" }));
      return;
    }
    // A header and prefix of the connector's choosing.
    if (url.pathname === "/stock" && request.headers["x-api-token"] === `ApiKey ${INVENTORY_KEY}`) {
      response.end(JSON.stringify({ inStock: 7 }));
      return;
    }
    response.statusCode = 401;
    response.end(JSON.stringify({ error: "bad key" }));
  });
});

afterAll(closeAllServers);

const flow = {
  name: "store-info",
  variables: { forecast: { type: "string" }, inStock: { type: "integer" } },
  start: "weather",
  onError: "end",
  activities: {
    weather: {
      type: "http-request",
      connector: "Weather",
      requestPath: "/weather",
      method: "GET",
      parseSettings: [{ outputVariable: "forecast", pathExpression: "$.forecast", required: true }],
      next: { success: "stock", error: "end" },
    },
    stock: {
      type: "http-request",
      connector: "Inventory",
      requestPath: "/stock",
      method: "GET",
      parseSettings: [{ outputVariable: "inStock", pathExpression: "$.inStock", required: true }],
      next: { success: "end", error: "end" },
    },
    end: { type: "end-flow" },
  },
};

async function setUp(): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await tempDir("flowrun-api-key-");
  await writeJson(path.join(dir, "store-info.flow.json"), flow);
  // The bare key with a final newline, as `echo` writes it.
  await writeFile(path.join(dir, "inventory.key"), `${INVENTORY_KEY}\n`);
  await writeJson(path.join(dir, "connectors.json"), {
    connectors: [
      {
        id: "5a0c1e2b-0000-4000-8000-000000000001",
        name: "Weather",
        type: "api-key",
        resourceDomainUrl: server.url,
        apiKey: { env: "WEATHER_API_KEY" },
      },
      {
        id: "5a0c1e2b-0000-4000-8000-000000000002",
        name: "Inventory",
        type: "api-key",
        resourceDomainUrl: server.url,
        headerName: "X-Api-Token",
        valuePrefix: "ApiKey ",
        apiKey: { file: "inventory.key" },
      },
    ],
  });
  return { dir, env: envWithoutSecrets({ WEATHER_API_KEY: WEATHER_KEY }) };
}

interface Recorded {
  cases: {
    exchanges: { request: { method: string; url: string; headers?: Record<string, string> } }[];
    expect: { status: string; variables: Record<string, unknown> };
  }[];
}

describe("the api-key connector type, end to end", () => {
  it("sends the key in its header live, records it redacted, and the recording replays without the key", async () => {
    const { dir, env } = await setUp();
    const received = server.received.length;
    const recorded = await cli(
      [
        "record",
        "store-info.flow.json",
        "--case",
        "open store",
        "--out",
        "store-info.test.json",
        "--connectors",
        "connectors.json",
        "--allow-loopback-http",
      ],
      { cwd: dir, env },
    );
    expect(recorded.stderr).toBe("");
    expect(recorded.code).toBe(0);
    const sent = server.received.slice(received);
    expect(sent.map((request) => request.url)).toEqual(["/weather", "/stock"]);
    expect(sent[0]?.headers["x-api-key"]).toBe(WEATHER_KEY);
    expect(sent[1]?.headers["x-api-token"]).toBe(`ApiKey ${INVENTORY_KEY}`);
    expect(sent[1]?.headers["x-api-key"]).toBeUndefined();

    const text = await readFile(path.join(dir, "store-info.test.json"), "utf8");
    expect(text).not.toContain(WEATHER_KEY);
    expect(text).not.toContain(INVENTORY_KEY);
    const [only] = (await readJson<Recorded>(path.join(dir, "store-info.test.json"))).cases;
    expect(only?.expect.status).toBe("completed");
    expect(only?.expect.variables).toMatchObject({ forecast: "sunny", inStock: 7 });

    // CI: neither key is available; replay needs neither.
    const replayed = await cli(["test", "store-info.test.json"], { cwd: dir, env: envWithoutSecrets() });
    expect(replayed.stdout).toContain("1 passed, 0 failed");
    expect(replayed.code).toBe(0);

    const run = await cli(
      ["run", "store-info.flow.json", "--replay", "store-info.test.json", "--case", "open store"],
      { cwd: dir, env: envWithoutSecrets() },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("COMPLETED at end");
    expect(run.stdout).toContain('forecast = "sunny"');
  });

  it("a live run's trace shows the key's header redacted and never the key", async () => {
    const { dir, env } = await setUp();
    const run = await cli(
      ["run", "store-info.flow.json", "--connectors", "connectors.json", "--allow-loopback-http", "--json"],
      { cwd: dir, env },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain(WEATHER_KEY);
    expect(run.stdout).not.toContain(INVENTORY_KEY);
    expect(run.stdout).toContain('"x-api-key": "[REDACTED]"');
    expect(run.stdout).toContain('"x-api-token": "[REDACTED]"');
    expect(run.stdout).toContain('"credentials": "key"');
    expect(run.stdout).not.toContain('"credentials": "basic"');

    const pretty = await cli(
      ["run", "store-info.flow.json", "--connectors", "connectors.json", "--allow-loopback-http"],
      {
        cwd: dir,
        env,
      },
    );
    expect(pretty.code).toBe(0);
    expect(pretty.stdout).toContain("1 attempt, API key)");
    expect(pretty.stdout).not.toContain("basic auth");
    for (const output of [run.stdout, run.stderr, pretty.stdout, pretty.stderr]) {
      expect(output).not.toContain(WEATHER_KEY);
      expect(output).not.toContain(INVENTORY_KEY);
    }
  });

  it("a wrong key is the API's refusal, taken as the activity's error", async () => {
    const { dir } = await setUp();
    const run = await cli(
      ["run", "store-info.flow.json", "--connectors", "connectors.json", "--allow-loopback-http", "--json"],
      { cwd: dir, env: envWithoutSecrets({ WEATHER_API_KEY: "not-the-key" }) },
    );
    expect(run.stdout).toContain("401");
    expect(run.stdout).not.toContain("not-the-key");
  });
});
