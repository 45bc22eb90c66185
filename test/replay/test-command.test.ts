import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { copyFixture, envWithoutSecrets, readJson, tempDir, writeJson } from "./helpers.js";

const env = envWithoutSecrets();

interface TestFileJson {
  flow: string;
  connectors?: string;
  cases: Record<string, unknown>[];
}

describe("flowrun test: a changed flow fails with a readable diff", () => {
  it("a changed query parameter template prints the request beside the closest recorded one", async () => {
    const dir = await tempDir();
    const { flow, testFile } = await copyFixture("crm-lookup", dir);
    const document = await readJson<{ activities: { lookup: { queryParameters: Record<string, string> } } }>(
      flow,
    );
    // the flow now sends the number without its leading +
    document.activities.lookup.queryParameters.phone = "{{ contact.ani | remove_first: '+' }}";
    await writeJson(flow, document);
    const run = await cli(["test", testFile], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      "no recorded exchange matches GET https://crm.example.com/api/accounts?phone=15551234567",
    );
    expect(run.stdout).toContain("request: GET https://crm.example.com/api/accounts?phone=15551234567");
    expect(run.stdout).toContain("closest: GET https://crm.example.com/api/accounts?phone=%2B15551234567");
    expect(run.stdout).toContain('- query phone: "15551234567" ≠ recorded "+15551234567"');
    expect(run.stdout).toMatch(/✗ .*crm-lookup\.test\.json › VIP caller goes to the VIP queue/);
    expect(run.stdout).toMatch(/\n0 passed, \d+ failed\n$/);
  });

  it("a changed request path names the differing path", async () => {
    const dir = await tempDir();
    const { flow, testFile } = await copyFixture("order-status", dir);
    const document = await readJson<{ activities: { lookupOrder: { requestPath: string } } }>(flow);
    document.activities.lookupOrder.requestPath = "/api/v2/orders/{{ orderId }}";
    await writeJson(flow, document);
    const run = await cli(["test", testFile], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      "no recorded exchange matches GET https://crm.example.com/api/v2/orders/SO-100482?fields=status%2Cdelivery",
    );
    expect(run.stdout).toContain(
      "closest: GET https://crm.example.com/api/orders/SO-100482?fields=status%2Cdelivery",
    );
    expect(run.stdout).toContain("- path /api/v2/orders/SO-100482 ≠ recorded /api/orders/SO-100482");
    // cases that send nothing are unaffected
    expect(run.stdout).toMatch(/✓ .* › CRM connector deactivated/);
  });

  it("the unchanged copy passes (the failures above come from the change)", async () => {
    const dir = await tempDir();
    const { testFile } = await copyFixture("crm-lookup", dir);
    const run = await cli(["test", testFile], { env });
    expect(run.stdout).toMatch(/\n\d+ passed, 0 failed\n$/);
    expect(run.code).toBe(0);
  });
});

describe("flowrun test: unused exchanges", () => {
  async function withExtraExchange(allowUnused: boolean | undefined): Promise<string> {
    const dir = await tempDir();
    const { testFile } = await copyFixture("billing-balance", dir);
    const test = await readJson<TestFileJson>(testFile);
    const [first] = test.cases as { exchanges: unknown[] }[];
    first?.exchanges.push({
      request: { method: "GET", url: "https://billing.example.com/api/v1/accounts/100-2044-17/invoices" },
      response: { status: 200, body: { invoices: [] } },
    });
    if (allowUnused !== undefined) (first as Record<string, unknown>).allowUnused = allowUnused;
    await writeJson(testFile, { ...test, cases: [first] });
    return testFile;
  }

  it("fail the case", async () => {
    const run = await cli(["test", await withExtraExchange(undefined)], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'recorded exchange never used: GET https://billing.example.com/api/v1/accounts/100-2044-17/invoices (set "allowUnused": true to allow)',
    );
    expect(run.stdout).toContain("0 passed, 1 failed");
  });

  it('pass with "allowUnused": true', async () => {
    const run = await cli(["test", await withExtraExchange(true)], { env });
    expect(run.stdout).not.toContain("never used");
    expect(run.stdout).toContain("1 passed, 0 failed");
    expect(run.code).toBe(0);
  });
});

describe("flowrun test: [REDACTED] in recorded requests", () => {
  /** One case of the unauthenticated holiday flow with the given recorded request. */
  async function holidayCase(request: Record<string, unknown>): Promise<string> {
    const dir = await tempDir();
    const { testFile } = await copyFixture("unauthenticated-request", dir);
    const test = await readJson<TestFileJson>(testFile);
    await writeJson(testFile, {
      ...test,
      cases: [
        {
          name: "redaction",
          contact: { ani: "+15552220001" },
          variables: { country: "DE" },
          exchanges: [{ request, response: { status: 200, body: { holiday: false } } }],
          expect: { path: ["checkHoliday", "route", "mainQueue", "end"] },
        },
      ],
    });
    return testFile;
  }

  it("matches any query value and header value, but a non-redacted difference still fails", async () => {
    const url = "https://holidays.example.com/api/v1/today?country=DE&caller=[REDACTED]";
    const passing = await cli(
      ["test", await holidayCase({ method: "GET", url, headers: { Accept: "[REDACTED]" } })],
      {
        env,
      },
    );
    expect(passing.stdout).toContain("1 passed, 0 failed");
    expect(passing.code).toBe(0);
    const failing = await cli(
      [
        "test",
        await holidayCase({
          method: "GET",
          url: "https://holidays.example.com/api/v1/today?country=AT&caller=[REDACTED]",
        }),
      ],
      { env },
    );
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('- query country: "DE" ≠ recorded "AT"');
  });
});

describe("flowrun test: expectation failures", () => {
  it("prints each mismatch of a case", async () => {
    const dir = await tempDir();
    const { testFile } = await copyFixture("crm-lookup", dir);
    const test = await readJson<TestFileJson>(testFile);
    const [vip] = test.cases as { expect: Record<string, unknown> }[];
    if (!vip) throw new Error("fixture has no case");
    vip.expect = {
      status: "completed",
      path: ["lookup", "route", "mainQueue", "end"],
      variables: { isVip: false, balance: 250.5 },
      actions: [{ type: "queue-contact", queue: "Main" }],
    };
    await writeJson(testFile, { ...test, cases: [vip] });
    const run = await cli(["test", testFile], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("path: expected lookup → route → mainQueue → end");
    expect(run.stdout).toContain("got lookup → route → vipQueue → end");
    expect(run.stdout).toContain("variable isVip: expected false, got true");
    expect(run.stdout).not.toContain("variable balance");
    expect(run.stdout).toContain('action {"type":"queue-contact","queue":"Main"} not found (in order)');
  });
});

describe("flowrun test: reporters", () => {
  /** A folder with one passing and one failing case, in two test files. */
  async function mixedFolder(): Promise<string> {
    const dir = await tempDir();
    const suite = path.join(dir, "suite");
    await mkdir(suite);
    const { testFile } = await copyFixture("billing-balance", suite);
    const test = await readJson<TestFileJson>(testFile);
    await writeJson(testFile, { ...test, cases: [test.cases[0]] });
    const failing = await copyFixture("wxm-post-call-survey", suite);
    const wxm = await readJson<TestFileJson>(failing.testFile);
    const skip = wxm.cases[1] as { name: string; expect: Record<string, unknown> };
    skip.name = "caller skips the survey <& is thanked>";
    skip.expect = { ...skip.expect, path: ["offerSurvey", "thanks", "hangUp"] };
    await writeJson(failing.testFile, { ...wxm, cases: [skip] });
    return dir;
  }

  it("--reporter junit --output writes JUnit XML with one testsuite per file", async () => {
    const dir = await mixedFolder();
    const run = await cli(["test", "suite", "--reporter", "junit", "--output", "report.xml"], {
      cwd: dir,
      env,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("1 passed, 1 failed");
    const xml = await readFile(path.join(dir, "report.xml"), "utf8");
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(xml) as {
      testsuites: {
        tests: string;
        failures: string;
        testsuite: {
          name: string;
          tests: string;
          failures: string;
          testcase: { name: string; classname: string; failure?: { message: string; "#text": string } };
        }[];
      };
    };
    const root = parsed.testsuites;
    expect(root.tests).toBe("2");
    expect(root.failures).toBe("1");
    expect(root.testsuite.map((s) => [s.name, s.tests, s.failures])).toEqual([
      [path.join("suite", "billing-balance.test.json"), "1", "0"],
      [path.join("suite", "wxm-post-call-survey.test.json"), "1", "1"],
    ]);
    const [passing, failing] = root.testsuite.map((s) => s.testcase);
    expect(passing?.name).toBe("balance is read out and the caller chooses to pay");
    expect(passing?.failure).toBeUndefined();
    expect(failing?.name).toBe("caller skips the survey <& is thanked>");
    expect(failing?.classname).toBe(path.join("suite", "wxm-post-call-survey.test.json"));
    expect(failing?.failure?.message).toBe("path: expected offerSurvey → thanks → hangUp");
    expect(failing?.failure?.["#text"]).toContain("got offerSurvey → goodbye → hangUp");
  });

  it("--reporter json prints a parseable report", async () => {
    const dir = await mixedFolder();
    const run = await cli(["test", "suite", "--reporter", "json"], { cwd: dir, env });
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as {
      passed: number;
      failed: number;
      cases: {
        file: string;
        name: string;
        passed: boolean;
        failures: string[];
        status: string;
        path: string[];
      }[];
    };
    expect(report.passed).toBe(1);
    expect(report.failed).toBe(1);
    expect(report.cases.map((c) => [c.name, c.passed])).toEqual([
      ["balance is read out and the caller chooses to pay", true],
      ["caller skips the survey <& is thanked>", false],
    ]);
    const failed = report.cases[1];
    expect(failed?.status).toBe("completed");
    expect(failed?.path).toEqual(["offerSurvey", "goodbye", "hangUp"]);
    expect(failed?.failures[0]).toContain("path: expected offerSurvey → thanks → hangUp");
  });

  it("an unknown reporter is a usage error", async () => {
    const run = await cli(["test", "--reporter", "tap"], { env });
    expect(run.code).toBe(2);
  });
});
