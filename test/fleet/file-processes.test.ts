import { readdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorFileStore, ConnectorRegistry } from "../../src/index.js";
import { connectorInput, tempDir } from "../connectors/builders.js";
import { bundleScript, cliScript, runCliProcess, startNode } from "../helpers/processes.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { crmPing } from "./flows.js";

/**
 * Following a connectors file with real processes: the admin CLI in one process, `flowrun run` or an embedding script in
 * another, one connectors file between them.
 */
const env = { CRM_PASSWORD: "pw-0f-the-crm", CRM_SECRET: "s3cret-of-the-crm" };
let server: LoopbackServer;
/** Token requests the server answered, by the client id they authenticated with. */
const tokenRequests: string[] = [];

beforeAll(async () => {
  server = await startHttpServer(async (request, response) => {
    response.setHeader("content-type", "application/json");
    if (request.url === "/token") {
      const basic = Buffer.from((request.headers.authorization ?? "").replace(/^Basic /, ""), "base64");
      tokenRequests.push(basic.toString("utf8").split(":")[0]!);
      response.end(
        JSON.stringify({
          access_token: `tok-${tokenRequests.length}`,
          token_type: "Bearer",
          expires_in: 3600,
        }),
      );
      return;
    }
    await sleep(10); // a loop of requests takes seconds, so a deactivation can land in the middle of it
    response.end('{"ok":true}');
  });
  // Built before the tests start, so that their time goes to the processes under test.
  await Promise.all([cliScript(), bundleScript("test/fleet/embedder.ts")]);
}, 60_000);
afterAll(closeAllServers);

async function connectorsFile(
  ...connectors: Record<string, unknown>[]
): Promise<{ dir: string; file: string }> {
  const dir = await tempDir();
  const file = path.join(dir, "connectors.json");
  const store = new ConnectorFileStore(file, { createIfMissing: true, allowLoopbackHttp: true });
  const admin = await ConnectorRegistry.open(store, {
    role: "full-admin",
    allowLoopbackHttp: true,
    follow: false,
  });
  for (const connector of connectors) await admin.create(connector);
  return { dir, file };
}

function basicCrm(name = "CRM") {
  return {
    ...connectorInput("custom", name),
    resourceDomainUrl: server.url,
    auth: { type: "basic", username: "flows", password: { env: "CRM_PASSWORD" } },
  };
}

function oauthCrm() {
  return {
    ...connectorInput("custom-oauth2", "CRM"),
    resourceDomainUrl: server.url,
    auth: {
      type: "oauth2",
      clientId: "flows-1",
      clientSecret: { env: "CRM_SECRET" },
      tokenUrl: `${server.url}/token`,
    },
  };
}

function connectorsCli(dir: string, ...args: string[]) {
  return runCliProcess(["connectors", ...args, "--file", "connectors.json", "--allow-loopback-http"], {
    cwd: dir,
    env,
  });
}

const LOOPS = 400;
const loopingFlow = {
  name: "poll-crm",
  variables: { i: { type: "integer", default: 0 } },
  start: "call",
  activities: {
    call: crmPing("count"),
    count: {
      type: "set-variable",
      assignments: [{ variable: "i", value: "{{ i | plus: 1 }}" }],
      next: { default: "again" },
    },
    again: { type: "condition", expression: `i < ${LOOPS}`, next: { true: "call", false: "end" } },
    end: { type: "end-flow" },
  },
};

describe("one host, one connectors file, several processes", () => {
  it("a looping `flowrun run` halts at its next http-request after `flowrun connectors deactivate` in another process", async () => {
    const { dir } = await connectorsFile(basicCrm());
    await writeFile(path.join(dir, "loop.flow.json"), JSON.stringify(loopingFlow));
    const before = server.received.length;
    const run = startNode(
      await cliScript(),
      [
        "run",
        "loop.flow.json",
        "--connectors",
        "connectors.json",
        "--allow-loopback-http",
        "--json",
        "--max-steps",
        "5000",
      ],
      { cwd: dir, env },
    );
    while (server.received.length - before < 5) {
      if (run.child.exitCode !== null) throw new Error(`run ended early: ${run.stderr()}`);
      await sleep(10);
    }
    const deactivated = await connectorsCli(dir, "deactivate", "CRM");
    expect(deactivated.stdout).toContain('deactivated connector "CRM"');
    const exited = await run.exited;
    expect(exited.code, exited.stderr).toBe(3);
    const result = JSON.parse(exited.stdout) as {
      status: string;
      reason: string;
      variables: { i: number };
      error: { message: string };
    };
    expect(result).toMatchObject({ status: "halted", reason: "connector-inactive" });
    expect(result.error.message).toMatch(/CRM/);
    expect(result.variables.i).toBeLessThan(LOOPS);
    expect(server.received.length - before).toBe(result.variables.i);
  });

  it("an embedding process follows the CLI and hand edits: halts, drops tokens, keeps the last good state", async () => {
    const { dir, file } = await connectorsFile(oauthCrm());
    const embedder = startNode(await bundleScript("test/fleet/embedder.ts"), [file], { env });
    const runs = () =>
      embedder
        .stdout()
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { n: number; status: string; reason: string | null });
    const lastRun = () => runs().at(-1)?.n ?? 0;
    const nextRun = async (status: string, reason: string | null = null) => {
      const after = lastRun();
      const line = await embedder.waitForLine((text) => {
        const run = JSON.parse(text) as { n: number; status: string; reason: string | null; outcome: string };
        // A completed run must have reached the API: its request succeeded, tokens included.
        const reached = status !== "completed" || run.outcome === "success";
        return run.n > after && run.status === status && run.reason === reason && reached;
      });
      return JSON.parse(line) as { n: number };
    };
    const tokensBefore = tokenRequests.length;
    await nextRun("completed");
    await nextRun("completed");
    expect(tokenRequests.slice(tokensBefore)).toEqual(["flows-1"]); // one token, cached across runs

    expect((await connectorsCli(dir, "deactivate", "CRM")).code).toBe(0);
    await nextRun("halted", "connector-inactive");
    expect((await connectorsCli(dir, "edit", "CRM", "--set", "auth.clientId=flows-2")).code).toBe(0);
    expect((await connectorsCli(dir, "reactivate", "CRM")).code).toBe(0);
    await nextRun("completed");
    // The old token was dropped with the change, and the edited settings are the ones in use.
    expect(tokenRequests.slice(tokensBefore)).toEqual(["flows-1", "flows-2"]);

    const good = await readFile(file, "utf8");
    await writeFile(file, good.replace('"status": "active"', '"status": "inactive"  oops'));
    await waitFor(() => embedder.stderr().includes("cannot be loaded"));
    await nextRun("completed");
    await nextRun("completed"); // routing goes on with the last good state
    expect(embedder.stderr()).toMatch(/connectors\.json:\d+:\d+: not valid JSON/);

    await writeFile(`${file}.tmp`, good.replace('"status": "active"', '"status": "inactive"'));
    await rename(`${file}.tmp`, file);
    await nextRun("halted", "connector-inactive");
    expect(embedder.stderr()).toContain("valid again");
    expect((await connectorsCli(dir, "delete", "CRM")).code).toBe(0);
    await nextRun("halted", "connector-not-found");

    embedder.child.kill("SIGTERM");
    const exited = await embedder.exited;
    expect(exited.code).toBe(0);
    expect(exited.stderr.match(/cannot be loaded/g)).toHaveLength(1);
    for (const secret of Object.values(env)) expect(exited.stdout + exited.stderr).not.toContain(secret);
  });

  it("racing admin processes are serialised: every write that succeeded is there, the refused one says why", async () => {
    const { dir, file } = await connectorsFile(basicCrm("A"), basicCrm("B"), basicCrm("C"));
    for (const name of ["A", "B"]) expect((await connectorsCli(dir, "deactivate", name)).code).toBe(0);
    let reads = 0;
    const invalidReads: string[] = [];
    let racing = true;
    const reader = (async () => {
      while (racing) {
        const text = await readFile(file, "utf8");
        reads++;
        try {
          JSON.parse(text);
        } catch {
          invalidReads.push(text);
        }
        await sleep(1);
      }
    })();
    const commands = [
      ...["D1", "D2", "D3", "D4", "Dup", "dup"].map((name) => [
        "add",
        "--type",
        "custom",
        "--name",
        name,
        "--set",
        `resourceDomainUrl=${server.url}`,
        "--set",
        "auth.type=basic",
        "--set",
        "auth.username=u",
        "--set",
        "auth.password.env=CRM_PASSWORD",
      ]),
      ["edit", "A", "--set", "auth.username=ua"],
      ["edit", "B", "--set", "auth.username=ub"],
      ["deactivate", "C"],
    ];
    const results = await Promise.all(commands.map((args) => connectorsCli(dir, ...args)));
    racing = false;
    await reader;

    const failed = results.filter((result) => result.code !== 0);
    expect(failed, JSON.stringify(failed)).toHaveLength(1); // one of the two "Dup" adds
    expect(failed[0]!.code).toBe(2);
    expect(failed[0]!.stderr).toMatch(/create refused by the unique name rule: "[Dd]up" is already used/);
    const saved = JSON.parse(await readFile(file, "utf8")) as {
      connectors: { name: string; status: string; auth: { username: string } }[];
    };
    const byName = new Map(saved.connectors.map((c) => [c.name.toLowerCase(), c]));
    expect([...byName.keys()].sort()).toEqual(["a", "b", "c", "d1", "d2", "d3", "d4", "dup"]);
    expect(byName.get("a")?.auth.username).toBe("ua");
    expect(byName.get("b")?.auth.username).toBe("ub");
    expect(byName.get("c")?.status).toBe("inactive");
    expect(reads).toBeGreaterThan(0);
    expect(invalidReads).toEqual([]);
    expect(await readdir(dir)).toEqual(["connectors.json"]); // no lock or temp file left behind
  });

  it("a process following the file exits by itself: neither watcher nor timer holds it open", async () => {
    const { file } = await connectorsFile(connectorInput("custom", "CRM"));
    const script = await bundleScript("test/fleet/follow-then-exit.ts");
    const follower = startNode(script, [file]);
    const outcome = await Promise.race([follower.exited, sleep(10_000).then(() => "still running" as const)]);
    expect(outcome).toMatchObject({ code: 0, stdout: "following 1\n" });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(10);
  }
}
