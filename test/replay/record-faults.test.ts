import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { readJson, tempDir } from "./helpers.js";

/** A loopback port nothing listens on: bound, then closed, so a connection to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The shipped unauthenticated-request flow, pointed at a server that is down. */
async function flowAgainstDownServer(dir: string): Promise<string> {
  const flow = JSON.parse(readFileSync("fixtures/flows/unauthenticated-request.flow.json", "utf8"));
  flow.activities.checkHoliday.requestUrl = `http://127.0.0.1:${await closedPort()}/api/v1/today`;
  const file = path.join(dir, "holiday.flow.json");
  writeFileSync(file, JSON.stringify(flow, null, 2));
  return file;
}

describe("flowrun record against a server that is down", () => {
  it("records each refused request as fault: network, and the case replays the same path", async () => {
    const dir = await tempDir();
    const flow = await flowAgainstDownServer(dir);
    const out = path.join(dir, "holiday.test.json");
    const record = await cli(["record", flow, "--case", "down", "--out", out, "--allow-loopback-http"]);
    expect(record.stderr).toBe("");
    expect(record.code).toBe(0); // the flow's error path routes the call to the main queue
    // The activity retries once: two attempts, both refused.
    expect(record.stdout).toContain(`recorded case "down" with 2 exchanges (2 network faults) into ${out}`);
    const testFile = (await readJson(out)) as {
      cases: { exchanges: unknown[]; expect: { path: string[] } }[];
    };
    const [recorded] = testFile.cases;
    expect(recorded!.exchanges).toEqual([
      {
        request: { method: "GET", url: expect.stringContaining("/api/v1/today?country=DE") },
        fault: "network",
      },
      {
        request: { method: "GET", url: expect.stringContaining("/api/v1/today?country=DE") },
        fault: "network",
      },
    ]);
    expect(recorded!.expect.path).toEqual(["checkHoliday", "mainQueue", "end"]);
    const replay = await cli(["test", out]);
    expect(replay.stdout).toContain("1 passed, 0 failed");
    expect(replay.code).toBe(0);
  });

  it("--strict refuses the recording with a clear message and writes nothing", async () => {
    const dir = await tempDir();
    const flow = await flowAgainstDownServer(dir);
    const out = path.join(dir, "strict.test.json");
    const record = await cli([
      "record",
      flow,
      "--case",
      "down",
      "--out",
      out,
      "--allow-loopback-http",
      "--strict",
    ]);
    expect(record.code).toBe(1);
    expect(record.stderr).toMatch(
      new RegExp(
        `^error: --strict: GET http://127\\.0\\.0\\.1:\\d+/api/v1/today\\?country=DE.* \\(network\\), .* got no answer \\(faults at the network level\\); nothing was written to ${out.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\n$`,
      ),
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe("flowrun record of a misconfigured run", () => {
  it("writes no case when a connector's secret is unset, says why, and exits 4", async () => {
    const dir = await tempDir();
    const out = path.join(dir, "crm.test.json");
    const env = { ...process.env };
    delete env.CRM_CLIENT_SECRET;
    const record = await cli(
      [
        "record",
        "fixtures/flows/crm-lookup.flow.json",
        "--connectors",
        "fixtures/connectors.json",
        "--case",
        "x",
        "--out",
        out,
      ],
      { env },
    );
    expect(record.code).toBe(4);
    expect(record.stderr).toContain(`nothing was recorded into ${out}: the run met a configuration problem`);
    expect(existsSync(out)).toBe(false);
  });
});
