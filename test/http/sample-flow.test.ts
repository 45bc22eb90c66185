import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import type { CliIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/main.js";
import { createEngine } from "../../src/runtime/create-engine.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const samplePath = path.join(root, "fixtures/flows/unauthenticated-request.flow.json");

describe("fixtures/flows/unauthenticated-request.flow.json", () => {
  it("is accepted by flowrun validate", async () => {
    const out: string[] = [];
    const io: CliIo = {
      stdout: (text) => out.push(text),
      stderr: (text) => out.push(text),
      readStdin: async () => "",
      color: false,
      cwd: root,
      env: {},
    };
    expect(await runCli(["validate", "fixtures/flows/unauthenticated-request.flow.json"], io)).toBe(0);
    expect(out.join("")).toContain("valid");
  });

  it("routes a holiday to the closed message (replayed through a MockAgent)", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    agent
      .get("https://holidays.example.com")
      .intercept({ path: "/api/v1/today?country=DE&caller=%2B15551234567", method: "GET" })
      .reply(200, { holiday: true, name: "Unity Day" }, { headers: { "content-type": "application/json" } });
    const engine = createEngine({ dispatcher: agent });
    const flow = engine.compile(JSON.parse(readFileSync(samplePath, "utf8")));
    const result = await flow.run({ contact: { ani: "+15551234567" } });
    await engine.close();
    await agent.close();
    expect(result.path).toEqual(["checkHoliday", "route", "closed", "end"]);
    expect(result.variables).toMatchObject({ isHoliday: true, holidayName: "Unity Day" });
  });
});
