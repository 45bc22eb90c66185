import { readFile, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliRun, cli } from "../helpers/cli.js";
import { connectorInput, tempDir } from "./builders.js";

const PLAIN_PASSWORD = "pl4in-Passw0rd-xyz";
const ENV_SECRET = "env-Cl1ent-Secret-abc";
const FILE_SECRET = "f1le-Refresh-Token-def";
const SECRETS = [PLAIN_PASSWORD, ENV_SECRET, FILE_SECRET];
const env = { CRM_SECRET: ENV_SECRET, VALIDATION_PASSWORD: ENV_SECRET };

/** Every output of every CLI run in this file, checked at the end for secrets. */
const outputs: string[] = [];

async function run(dir: string, args: string[], stdin?: string): Promise<CliRun> {
  const result = await cli(["connectors", ...args], { cwd: dir, stdin, env });
  outputs.push(result.stdout, result.stderr);
  return result;
}

let server: Server;
let serverUrl: string;
beforeAll(async () => {
  // Answers 200 only to the right Basic credentials; otherwise echoes the header it got, as careless servers do.
  server = createServer((request: IncomingMessage, response) => {
    const expected = `Basic ${Buffer.from(`flows:${ENV_SECRET}`).toString("base64")}`;
    if (request.headers.authorization === expected) response.writeHead(200).end("pong");
    else response.writeHead(401).end(`bad credentials: ${request.headers.authorization}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  const all = outputs.join("\n");
  for (const secret of SECRETS) {
    expect(all).not.toContain(secret);
    expect(all).not.toContain(Buffer.from(secret).toString("base64"));
    expect(all).not.toContain(Buffer.from(`flows:${secret}`).toString("base64"));
  }
});

describe("flowrun connectors", () => {
  it("add (flags and stdin), list, show: secrets masked, plain secrets warned about", async () => {
    const dir = await tempDir();
    const added = await run(dir, [
      "add",
      "--name",
      "CRM",
      "--type",
      "custom",
      "--set",
      "resourceDomainUrl=https://crm.example.com",
      "--set",
      "auth.type=oauth2",
      "--set",
      "auth.clientId=flows",
      "--set",
      "auth.clientSecret.env=CRM_SECRET",
      "--set",
      "auth.tokenUrl=https://auth.example.com/token",
      "--set-json",
      "tokenExpiredStatuses=[401,403]",
    ]);
    expect(added).toMatchObject({ code: 0, stderr: "" });
    expect(added.stdout).toMatch(/created connector "CRM" \(custom, id [0-9a-f-]{36}\), active/);

    const basic = {
      ...connectorInput("custom", "Billing"),
      auth: { type: "basic", username: "flows", password: PLAIN_PASSWORD },
    };
    const fromStdin = await run(dir, ["add", "--stdin"], JSON.stringify(basic));
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stderr).toContain('secret auth.password of connector "Billing" is stored insecurely');

    const list = await run(dir, ["list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+TYPE\s+STATUS\s+ID\s+BASE URL\n/);
    expect(list.stdout).toMatch(/CRM\s+custom\s+active\s+[0-9a-f-]{36}\s+https:\/\/crm\.example\.com/);

    const json = JSON.parse((await run(dir, ["list", "--json"])).stdout) as {
      auth: Record<string, unknown>;
    }[];
    expect(json.map((c) => c.auth.clientSecret ?? c.auth.password)).toEqual(["env:CRM_SECRET", "••••"]);

    const show = await run(dir, ["show", "billing"]);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ name: "Billing", auth: { password: "••••" } });

    const file = await readFile(path.join(dir, "connectors.json"), "utf8");
    expect(JSON.parse(file).connectors[0].auth.clientSecret).toEqual({ env: "CRM_SECRET" });
  });

  it("lifecycle: edit and delete refused while active (exit 2), then deactivate, edit, reactivate, delete", async () => {
    const dir = await tempDir();
    await run(dir, ["add", "--stdin"], JSON.stringify(connectorInput("custom-oauth2", "CRM")));

    const editActive = await run(dir, ["edit", "crm", "--set", "auth.scope=read"]);
    expect(editActive.code).toBe(2);
    expect(editActive.stderr).toContain("can be edited only while inactive (deactivate it first)");
    const deleteActive = await run(dir, ["delete", "CRM"]);
    expect(deleteActive.code).toBe(2);
    expect(deleteActive.stderr).toContain("only an inactive connector can be deleted");

    expect((await run(dir, ["deactivate", "CRM"])).stdout).toBe('deactivated connector "CRM"\n');
    expect((await run(dir, ["deactivate", "CRM"])).stdout).toBe('connector "CRM" was already inactive\n');
    const edited = await run(dir, [
      "edit",
      "CRM",
      "--name",
      "CRM EU",
      "--set",
      "auth.scope=read",
      "--set",
      "auth.clientSecret.file=secret.txt",
    ]);
    expect(edited).toMatchObject({ code: 0 });
    expect(JSON.parse((await run(dir, ["show", "crm eu"])).stdout)).toMatchObject({
      name: "CRM EU",
      auth: { scope: "read", clientSecret: "file:secret.txt" },
    });
    expect((await run(dir, ["edit", "CRM EU", "--unset", "auth.scope"])).code).toBe(0);
    const patched = await run(dir, ["edit", "CRM EU", "--stdin"], '{ "description": "EU tenant" }');
    expect(patched.code).toBe(0);
    expect(JSON.parse((await run(dir, ["show", "CRM EU"])).stdout)).not.toHaveProperty("auth.scope");

    const typeChange = await run(dir, ["edit", "CRM EU", "--set", "type=genesys"]);
    expect(typeChange.code).toBe(2);
    expect(typeChange.stderr).toContain("immutable type rule");

    const reactivated = await run(dir, ["reactivate", "CRM EU"]);
    expect(reactivated.code).toBe(0);
    expect(reactivated.stdout).toContain(
      "note: connectivity not checked: flowrun can check it only for custom Basic auth with a validationUrl, not for custom (oauth2 client_credentials)",
    );
    expect(reactivated.stdout).toContain('reactivated connector "CRM EU"');
    await run(dir, ["deactivate", "CRM EU"]);
    const deleted = await run(dir, ["delete", "CRM EU"]);
    expect(deleted.stdout).toMatch(/^deleted connector "CRM EU"/);
    expect((await run(dir, ["list"])).stdout).toBe("no connectors\n");
    expect((await run(dir, ["show", "CRM EU"])).code).toBe(2);
  });

  it("refusals name their rule and exit 2: name taken, limit, insecure URL, role", async () => {
    const dir = await tempDir();
    await run(
      dir,
      ["add", "--stdin"],
      JSON.stringify(connectorInput("webex-experience-management", "Surveys")),
    );
    const second = await run(
      dir,
      ["add", "--stdin"],
      JSON.stringify(connectorInput("webex-experience-management", "Other")),
    );
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(
      "limit rule: an organisation can have at most 1 webex-experience-management connector",
    );
    const taken = await run(dir, ["add", "--stdin"], JSON.stringify(connectorInput("genesys", "SURVEYS")));
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain("unique name rule");

    const remote = { ...connectorInput("custom", "Remote"), resourceDomainUrl: "http://10.0.0.8:8080" };
    const insecure = await run(dir, ["add", "--stdin"], JSON.stringify(remote));
    expect(insecure.code).toBe(2);
    expect(insecure.stderr).toContain("https rule");
    // A loopback http URL is stored as it is (whether it is used is the engine's switch): no flag needed.
    const local = { ...connectorInput("custom", "Local"), resourceDomainUrl: "http://127.0.0.1:8080" };
    expect((await run(dir, ["add", "--stdin"], JSON.stringify(local))).code).toBe(0);
    expect((await run(dir, ["list"])).code).toBe(0);

    const readOnly = await run(dir, [
      "deactivate",
      "Surveys",
      "--role",
      "partner-read-only-admin",
      "--allow-loopback-http",
    ]);
    expect(readOnly.code).toBe(2);
    expect(readOnly.stderr).toContain(
      "deactivate refused by the admin roles rule: role partner-read-only-admin has read-only access",
    );
    expect((await run(dir, ["list", "--role", "helpdesk-basic-admin", "--allow-loopback-http"])).code).toBe(
      0,
    );
    const noAccessDeactivate = await run(dir, [
      "deactivate",
      "Surveys",
      "--role",
      "read-only-admin",
      "--allow-loopback-http",
    ]);
    expect(noAccessDeactivate.code).toBe(2);
    expect(noAccessDeactivate.stderr).toContain(
      "deactivate refused by the admin roles rule: role read-only-admin has no access",
    );
    const noAccess = await run(dir, ["list", "--role", "read-only-admin", "--allow-loopback-http"]);
    expect(noAccess.code).toBe(2);
    expect(noAccess.stderr).toContain("role read-only-admin has no access to connectors");
    const unknownRole = await run(dir, ["list", "--role", "boss"]);
    expect(unknownRole.code).toBe(2);
    expect(unknownRole.stderr).toContain("--role must be one of full-admin");
  });

  it("validate: checks the file; --connectivity calls the basic-auth validation URL", async () => {
    const dir = await tempDir();
    const good = {
      ...connectorInput("custom", "Billing"),
      auth: {
        type: "basic",
        username: "flows",
        password: { env: "VALIDATION_PASSWORD" },
        validationUrl: `${serverUrl}/ping`,
      },
    };
    const wrong = {
      ...connectorInput("custom", "Wrong"),
      auth: {
        type: "basic",
        username: "flows",
        password: PLAIN_PASSWORD,
        validationUrl: `${serverUrl}/ping`,
      },
    };
    const flags = ["--allow-loopback-http"];
    expect(
      (await run(dir, ["add", "--stdin", "--validate", ...flags], JSON.stringify(good))).stdout,
    ).toContain("connectivity ok: GET");
    const refused = await run(dir, ["add", "--stdin", "--validate", ...flags], JSON.stringify(wrong));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("connectivity validation failed");
    expect(refused.stderr).toContain("answered 401: bad credentials: [REDACTED]");
    await run(dir, ["add", "--stdin", ...flags], JSON.stringify(wrong));
    await run(dir, ["add", "--stdin", ...flags], JSON.stringify(connectorInput("salesforce", "SF")));

    const fileOnly = await run(dir, ["validate", ...flags]);
    expect(fileOnly.code).toBe(0);
    expect(fileOnly.stdout).toBe("✓ connectors.json: valid (3 connectors)\n");
    const everything = await run(dir, ["validate", "--connectivity", ...flags]);
    expect(everything.code).toBe(2);
    expect(everything.stdout).toContain("Billing: connectivity ok");
    expect(everything.stdout).toContain("Wrong: connectivity failed: GET");
    expect(everything.stdout).toContain(
      "SF: note: connectivity not checked: flowrun can check it only for custom Basic auth with a validationUrl, not for salesforce",
    );
    expect((await run(dir, ["validate", "billing", ...flags])).code).toBe(0);

    await run(dir, ["deactivate", "Wrong", ...flags]);
    const reactivate = await run(dir, ["reactivate", "Wrong", ...flags]);
    expect(reactivate.code).toBe(2);
    expect(reactivate.stderr).toContain('reactivate of "Wrong" refused: connectivity validation failed');
    expect(JSON.parse((await run(dir, ["show", "Wrong", ...flags])).stdout).status).toBe("inactive");
  });

  it("file problems: bad JSON with line and column (exit 2), a missing file (exit 1)", async () => {
    const dir = await tempDir();
    const missing = await run(dir, ["list"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("cannot read (no such file)");
    await writeFile(path.join(dir, "broken.json"), '{ "connectors": [ }');
    const broken = await run(dir, ["list", "--file", "broken.json"]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.json:1:19: not valid JSON/);
    const usage = await run(dir, ["edit", "x", "--set", "novalue"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--set expects key=value");
  });

  it("has help for every subcommand", async () => {
    for (const sub of ["list", "show", "add", "edit", "deactivate", "reactivate", "delete", "validate"]) {
      const help = await run(process.cwd(), [sub, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("--file <file>");
      expect(help.stdout).toContain("--role <role>");
    }
  });
});
