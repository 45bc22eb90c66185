import { copyFile, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { envWithoutSecrets, fixturesDir, tempDir, writeJson } from "./helpers.js";

// Every run option of `flowrun run` under `--replay` (the replay engine used to drop them).
const ORDER_FLOW = path.join(fixturesDir, "order-status.flow.json");
const ORDER_TESTS = path.join(fixturesDir, "order-status.test.json");
const SHIPPED = "shipped order is announced with its delivery date";
const replayShipped = ["run", ORDER_FLOW, "--replay", ORDER_TESTS, "--case", SHIPPED];

async function connectorsWith(change: (crm: Record<string, unknown>) => void): Promise<string> {
  const document = JSON.parse(await readFile(path.join(fixturesDir, "../connectors.json"), "utf8"));
  const crm = document.connectors.find((c: { name: string }) => c.name === "CRM");
  change(crm);
  delete document.$schema;
  const file = path.join(await tempDir(), "connectors.json");
  await writeJson(file, document);
  return file;
}

describe("flowrun run --replay honours the run options", () => {
  it("the recorded case completes without options (the baseline the others differ from)", async () => {
    const run = await cli([...replayShipped, "--json"], { env: envWithoutSecrets() });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "completed", endedAt: "end" });
  });

  it("--max-steps fails the run with step-limit", async () => {
    const run = await cli([...replayShipped, "--max-steps", "1", "--json"], { env: envWithoutSecrets() });
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: "failed",
      reason: "step-limit",
      path: ["lookupOrder"],
    });
    expect(run.code).toBe(1);
  });

  it("--max-steps that is not a positive whole number is a usage error", async () => {
    const run = await cli([...replayShipped, "--max-steps", "0"], { env: envWithoutSecrets() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--max-steps");
  });

  it("--ca is read: a missing CA file is a usage error, as in a live run", async () => {
    const run = await cli([...replayShipped, "--ca", "no-such-ca.pem"], { env: envWithoutSecrets() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--ca no-such-ca.pem");
  });

  it("--ca with a readable PEM file replays normally", async () => {
    const dir = await tempDir();
    const ca = path.join(dir, "ca.pem");
    await writeFile(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const run = await cli([...replayShipped, "--ca", ca, "--json"], { env: envWithoutSecrets() });
    expect(JSON.parse(run.stdout).status).toBe("completed");
    expect(run.code).toBe(0);
  });

  it("warnings of the connectors file are printed, as in a live run", async () => {
    const connectors = await connectorsWith((crm) => {
      (crm.auth as Record<string, unknown>).clientSecret = "plain-text-secret-in-file";
    });
    const replayed = await cli([...replayShipped, "--connectors", connectors], { env: envWithoutSecrets() });
    expect(replayed.code).toBe(0);
    expect(replayed.stderr).toMatch(/^warning: \$\.connectors\[1\]\.auth\.clientSecret: .*plain text/m);
    expect(replayed.stderr).not.toContain("plain-text-secret-in-file");
  });

  it("--connectors replaces the test file's connectors (a deactivated CRM halts routing)", async () => {
    const connectors = await connectorsWith((crm) => {
      crm.status = "inactive";
    });
    const run = await cli([...replayShipped, "--connectors", connectors, "--json"], {
      env: envWithoutSecrets(),
    });
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "halted", reason: "connector-inactive" });
    expect(run.code).toBe(3);
  });

  it("--var overrides the recorded variables", async () => {
    const run = await cli([...replayShipped, "--var", "orderId=../../../admin/users", "--json"], {
      env: envWithoutSecrets(),
    });
    const result = JSON.parse(run.stdout);
    expect(result.variables.errorKind).toBe("invalid-request");
    expect(result.path).toContain("noteError");
  });

  it("--menu-input replaces the recorded menu inputs", async () => {
    const flow = path.join(fixturesDir, "ivr-menu.flow.json");
    const tests = path.join(fixturesDir, "ivr-menu.test.json");
    const base = ["run", flow, "--replay", tests, "--case", "billing on the first try", "--json"];
    const recorded = JSON.parse((await cli(base, { env: envWithoutSecrets() })).stdout);
    expect(recorded.path).toContain("billingQueue");
    const run = await cli([...base, "--menu-input", "7", "--menu-input", "8", "--menu-input", "9"], {
      env: envWithoutSecrets(),
    });
    expect(JSON.parse(run.stdout).path).not.toContain("billingQueue");
  });

  it("--deadline-ms is checked like a live run's", async () => {
    const run = await cli([...replayShipped, "--deadline-ms", "soon"], { env: envWithoutSecrets() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--deadline-ms");
  });

  it("--allow-loopback-http is accepted; replay always admits loopback recordings (nothing is sent)", async () => {
    const dir = await tempDir();
    await copyFile(
      path.join(fixturesDir, "unauthenticated-request.flow.json"),
      path.join(dir, "f.flow.json"),
    );
    const flow = JSON.parse(await readFile(path.join(dir, "f.flow.json"), "utf8"));
    const request = Object.values(flow.activities as Record<string, Record<string, unknown>>).find(
      (a) => a.type === "http-request",
    )!;
    request.requestUrl = "http://127.0.0.1:9/status";
    delete request.queryParameters;
    await writeJson(path.join(dir, "f.flow.json"), flow);
    await writeJson(path.join(dir, "f.test.json"), {
      flow: "./f.flow.json",
      cases: [
        {
          name: "loopback",
          exchanges: [
            {
              request: { method: String(request.method ?? "GET"), url: "http://127.0.0.1:9/status" },
              response: { status: 200, body: {} },
            },
          ],
          expect: { status: "completed" },
        },
      ],
    });
    for (const flag of [[], ["--allow-loopback-http"]]) {
      const run = await cli(
        ["run", "f.flow.json", "--replay", "f.test.json", "--case", "loopback", ...flag],
        {
          cwd: dir,
          env: envWithoutSecrets(),
        },
      );
      expect(run.stderr).toBe("");
      expect(run.stdout).toContain("GET http://127.0.0.1:9/status → 200");
    }
  });
});

describe("--egress-allow reaches the replay engine (run --replay and test)", () => {
  const STATUS_FLOW = path.join(fixturesDir, "status-check.flow.json");
  const STATUS_TESTS = path.join(fixturesDir, "status-check.test.json");
  const METADATA = "status host set to the cloud metadata address: egress-denied, nothing sent";
  const replayMetadata = ["run", STATUS_FLOW, "--replay", STATUS_TESTS, "--case", METADATA, "--json"];

  it("without it, the metadata address is refused and nothing is sent (0 attempts)", async () => {
    const run = await cli(replayMetadata, { env: envWithoutSecrets() });
    const result = JSON.parse(run.stdout);
    expect(result.variables.errorKind).toBe("egress-denied");
    expect(result.trace[0].http.attempts).toBe(0);
  });

  it("with it, the request is sent to the replay (which has no recording for it)", async () => {
    const run = await cli([...replayMetadata, "--egress-allow", "169.254.169.254"], {
      env: envWithoutSecrets(),
    });
    const result = JSON.parse(run.stdout);
    expect(result.variables.errorKind).not.toBe("egress-denied");
    expect(result.trace[0].http.attempts).toBeGreaterThan(0);
  });

  it("flowrun test --egress-allow makes the case expecting egress-denied fail, naming it", async () => {
    const allowed = await cli(["test", STATUS_TESTS, "--egress-allow", "169.254.169.254"], {
      env: envWithoutSecrets(),
    });
    expect(allowed.code).toBe(1);
    expect(allowed.stdout).toMatch(/✗.*status host set to the cloud metadata address/);
    const plain = await cli(["test", STATUS_TESTS], { env: envWithoutSecrets() });
    expect(plain.code).toBe(0);
  });

  it("an entry that is no range, address or name is a usage error naming it", async () => {
    const run = await cli([...replayMetadata, "--egress-allow", "10.0.0.0/99"], { env: envWithoutSecrets() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("10.0.0.0/99");
  });
});
