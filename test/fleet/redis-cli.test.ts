import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { httpFlow } from "../helpers/http-flows.js";
import { deleteKeys, REDIS_URL, redisReachable, TEST_TOKEN_KEY, uniquePrefix } from "../helpers/redis.js";
import { closeAllServers, startHttpServer } from "../helpers/servers.js";
import { startTokenServer, tokenAnswer } from "../helpers/token-server.js";

/** `flowrun connectors ... --redis`: the same commands and rules as on a file, plus import and export. */

const reachable = await redisReachable("test/fleet/redis-cli.test.ts");
const prefix = uniquePrefix("cli");
const dir = mkdtempSync(path.join(tmpdir(), "flowrun-redis-cli-"));
const env = { FLOWRUN_TOKEN_KEY: TEST_TOKEN_KEY, FLOWRUN_REDIS_PREFIX: prefix };
const run = (...args: string[]) => cli([...args, "--redis", REDIS_URL], { cwd: dir, env });

afterAll(async () => {
  await closeAllServers();
  rmSync(dir, { recursive: true, force: true });
  await deleteKeys(REDIS_URL, prefix);
});

const file = (name: string, connectors: unknown[]) => {
  const target = path.join(dir, name);
  writeFileSync(target, JSON.stringify({ connectors }));
  return target;
};
const crm = (name: string) => ({
  id: `id-${name}`,
  name,
  type: "custom",
  resourceDomainUrl: "https://crm.example.com",
  auth: { type: "basic", username: "flows", password: "Plain-Password-42" },
});

describe.skipIf(!reachable)("connectors commands on Redis", () => {
  it("import seeds, a second import is refused unless --replace, export prints it masked", async () => {
    const first = await run("connectors", "import", file("a.json", [crm("Alpha")]));
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(
      /^imported 1 connector from .*a\.json into Redis redis:\/\/127\.0\.0\.1:6379 \(prefix /,
    );

    const again = await run("connectors", "import", file("b.json", [crm("Beta"), crm("Gamma")]));
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/import refused: .* already holds connectors; use --replace/);

    const replaced = await run("connectors", "import", path.join(dir, "b.json"), "--replace");
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).toMatch(/imported 2 connectors .*\(replaced 1\)/);

    const exported = await run("connectors", "export");
    expect(exported.code).toBe(0);
    const printed = JSON.parse(exported.stdout) as {
      connectors: { name: string; auth: { password: string } }[];
    };
    expect(printed.connectors.map((c) => c.name)).toEqual(["Beta", "Gamma"]);
    expect(printed.connectors[0]!.auth.password).toBe("••••");
    expect(exported.stdout).not.toContain("Plain-Password-42");
  });

  it("lifecycle commands apply the registry rules and another invocation sees the result", async () => {
    expect((await run("connectors", "deactivate", "Beta")).stdout).toBe('deactivated connector "Beta"\n');
    const activeEdit = await run(
      "connectors",
      "edit",
      "Gamma",
      "--set",
      "resourceDomainUrl=https://x.example.com",
    );
    expect(activeEdit.code).toBe(2);
    expect(activeEdit.stderr).toMatch(/can be edited only while inactive/);
    expect((await run("connectors", "edit", "Beta", "--name", "Gamma")).stderr).toMatch(/unique name rule/);
    expect((await run("connectors", "delete", "Beta")).code).toBe(0);
    const list = await run("connectors", "list", "--json");
    expect((JSON.parse(list.stdout) as { name: string }[]).map((c) => c.name)).toEqual(["Gamma"]);
  });

  it("--redis and --connectors together are refused", async () => {
    const result = await run("run", "flow.json", "--connectors", "c.json");
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "error: --connectors and --redis exclude each other: connectors come from one place\n",
    );
  });

  it("add seals a plain secret in Redis and does not warn that it is stored as plain text", async () => {
    const added = await run(
      "connectors",
      "add",
      "--type",
      "custom",
      "--name",
      "Delta",
      "--set",
      "resourceDomainUrl=https://d.example.com",
      "--set",
      "auth.type=basic",
      "--set",
      "auth.username=u",
      "--set",
      "auth.password=Plain-Password-43",
    );
    expect(added.code).toBe(0);
    expect(added.stderr).toBe("");
  });

  it("record --redis records the token exchange even when the fleet has the token cached", async () => {
    const api = await startHttpServer();
    const tokens = await startTokenServer({ fallback: tokenAnswer({ access_token: "Cached-Fleet-Token" }) });
    try {
      const connectors = file("rec.json", [
        {
          id: "rec-1",
          name: "Rec",
          type: "custom",
          resourceDomainUrl: api.url,
          auth: { type: "oauth2", clientId: "c", clientSecret: "Rec-Secret-1", tokenUrl: tokens.url() },
        },
      ]);
      const loopback = "--allow-loopback-http";
      expect((await run("connectors", "import", connectors, "--replace", loopback)).code).toBe(0);
      writeFileSync(
        path.join(dir, "rec.flow.json"),
        JSON.stringify(httpFlow({ connector: "Rec", requestPath: "/x" })),
      );
      expect((await run("run", "rec.flow.json", loopback)).code).toBe(0);
      expect(tokens.requests).toHaveLength(1);
      const recorded = await run(
        "record",
        "rec.flow.json",
        "--case",
        "c1",
        "--out",
        "rec.test.json",
        loopback,
      );
      expect(recorded.code).toBe(0);
      expect(tokens.requests).toHaveLength(2);
      const testFile = readFileSync(path.join(dir, "rec.test.json"), "utf8");
      const urls = (
        JSON.parse(testFile) as { cases: { exchanges: { request: { url: string } }[] }[] }
      ).cases[0]!.exchanges.map((exchange) => exchange.request.url);
      expect(urls).toEqual([tokens.url(), `${api.url}/x`]);
      expect(testFile).not.toContain("Rec-Secret-1");
      expect(testFile).not.toContain("Cached-Fleet-Token");
    } finally {
      await tokens.close();
    }
  });
});
