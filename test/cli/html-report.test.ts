import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { layOutFlow } from "../../src/cli/reporters/html/flow-graph.js";
import { runReportHtml } from "../../src/cli/reporters/html/run-report.js";
import type { RunResult } from "../../src/engine/result.js";
import { createEngine } from "../../src/runtime/create-engine.js";
import { browserTestsEnabled, viewInChromium } from "../helpers/browser.js";
import { cli } from "../helpers/cli.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";

const root = path.resolve(import.meta.dirname, "../..");
const crmFlow = "fixtures/flows/crm-lookup.flow.json";
const crmTest = "fixtures/flows/crm-lookup.test.json";
const vipCase = "VIP caller goes to the VIP queue";
const readJson = (file: string) => JSON.parse(readFileSync(path.resolve(root, file), "utf8"));

/** `flowrun run` of the sample CRM flow replaying its VIP case, printing JSON and writing `report`. */
const replayWithReport = (report: string) =>
  cli(["run", crmFlow, "--replay", crmTest, "--case", vipCase, "--json", "--report", report]);

let dir: string;
let api: LoopbackServer;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "flowrun-report-"));
  api = await startHttpServer((_request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(
      JSON.stringify({ name: "</script><script>window.__pwned = 5</script>", tag: "<b>bold</b>" }),
    );
  });
});
afterAll(closeAllServers);

/** Values a hostile flow or API could carry; none may become markup. */
const HOSTILE = {
  flowName: "<script>window.__pwned = 1</script>",
  prompt: '<img src="x" onerror="window.__pwned = 2">',
  caseValue: '"><script>window.__pwned = 3</script>',
};

function hostileFlow(url: string) {
  return {
    name: HOSTILE.flowName,
    variables: { evil: { type: "string", default: HOSTILE.prompt }, name: { type: "string" } },
    start: "fetch",
    activities: {
      fetch: {
        type: "http-request",
        useAuthenticatedEndpoint: false,
        requestUrl: url,
        queryParameters: { q: "<svg onload=alert(1)>" },
        parseSettings: [{ outputVariable: "name", pathExpression: "$.name" }],
        next: { success: "say", error: "say" },
      },
      say: { type: "play-message", prompt: "{{ evil }} {{ name }}", next: { default: "pick" } },
      pick: {
        type: "case",
        expression: "evil",
        cases: { [HOSTILE.caseValue]: "done" },
        next: { default: "done" },
      },
      done: { type: "end-flow" },
    },
  };
}

async function hostileReport(): Promise<{ html: string; result: RunResult }> {
  const engine = createEngine({ allowLoopbackHttp: true });
  try {
    const document = hostileFlow(`${api.url}/lookup`);
    const result = await engine.compile(document).run();
    const html = runReportHtml({
      flowName: document.name,
      flowFile: "hostile.flow.json",
      flowDocument: document,
      result,
      generatedAt: new Date(0),
    });
    return { html, result };
  } finally {
    await engine.close();
  }
}

describe("the HTML report, as text", () => {
  it("escapes everything that comes from a flow or a response", async () => {
    const { html, result } = await hostileReport();
    expect(result.status).toBe("completed");
    expect(result.variables.name).toContain("<script>");
    expect(html).not.toContain("<script>window.__pwned");
    expect(html).not.toContain("</script><script>");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<svg onload");
    expect(html).toContain("&lt;script&gt;window.__pwned = 1&lt;/script&gt;");
    expect(html).toContain("&lt;img src=&quot;x&quot; onerror=&quot;window.__pwned = 2&quot;&gt;");
    expect(html.match(/<script>/g)).toHaveLength(1); // the report's own
  });

  it("is self-contained: no external reference of any kind, and a CSP that forbids fetching", async () => {
    const { html } = await hostileReport();
    // Every "<" of content is escaped, so each "<" here opens real markup.
    expect(html).not.toMatch(/<(?:link|iframe|object|embed|img|image|use)\b/i);
    expect(html).not.toMatch(/<[a-z][^>]*\s(?:src|href|xlink:href|action|srcset)=/i);
    const style = html.slice(html.indexOf("<style>"), html.indexOf("</style>"));
    expect(style).not.toMatch(/@import|url\(/i);
    expect(html.match(/url\([^)]*\)/g)?.every((url) => url.startsWith("url(#"))).toBe(true);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none';/);
  });

  it("draws a transition no declared link explains (onError) as a fallback link", () => {
    const flow = {
      name: "f",
      onError: "sorry",
      start: "a",
      activities: {
        a: { type: "queue-contact", queue: "Q", next: { default: "b" } },
        b: { type: "end-flow" },
        sorry: { type: "end-flow" },
      },
    };
    const result = {
      path: ["a", "sorry"],
      trace: [{ activity: "a", type: "queue-contact", outcome: "error" }],
    } as unknown as RunResult;
    const graph = layOutFlow(flow, result);
    expect(graph.edges.map((edge) => [edge.from, edge.to, edge.outcome, edge.kind, edge.order])).toEqual([
      ["a", "b", "default", "next", []],
      ["a", "sorry", "error", "fallback", [1]],
    ]);
    expect(graph.nodes.find((node) => node.id === "sorry")?.steps).toEqual([2]);
  });

  it("run --report marks a halted activity as halted", async () => {
    const report = path.join(dir, "halted.html");
    const run = await cli(["run", crmFlow, "--report", report]);
    expect(run.code).toBe(4); // halted on an unknown connector: a configuration problem
    const html = readFileSync(report, "utf8");
    expect(html).toMatch(/<g class="node type-http-request taken halted start" data-activity="lookup"/);
    expect(html).toContain("HALTED (connector-not-found) at lookup");
    expect(html).not.toContain("hint:"); // hints are for the terminal
  });

  it("--report is written with --json too, and the JSON stays the run result", async () => {
    const report = path.join(dir, "json.html");
    const run = await replayWithReport(report);
    expect(JSON.parse(run.stdout).status).toBe("completed");
    expect(readFileSync(report, "utf8")).toContain("<title>flow crm-lookup</title>");
  });

  it("test --reporter html without --output writes the page to standard output", async () => {
    const run = await cli(["test", crmTest, "--reporter", "html"]);
    expect(run.code).toBe(0);
    expect(run.stdout.startsWith("<!doctype html>")).toBe(true);
    expect(run.stdout).toContain("2 passed");
  });
});

describe.runIf(browserTestsEnabled("HTML report browser tests"))("the HTML report in Chromium", () => {
  it("run --report: every activity drawn, the path highlighted in order, a click shows the step, nothing fetched", async () => {
    const report = path.join(dir, "run.html");
    const run = await replayWithReport(report);
    const result = JSON.parse(run.stdout) as RunResult;
    const activities = Object.keys(readJson(crmFlow).activities);
    const seen = await viewInChromium(report, "run-report.png", async (page) => {
      const drawn = await page.$$eval(".node", (nodes) =>
        nodes.map((node) => {
          const shape = node.querySelector(".shape") as unknown as {
            getBBox(): { width: number; height: number };
          };
          const box = shape.getBBox();
          return { id: node.getAttribute("data-activity"), width: box.width, height: box.height };
        }),
      );
      expect(drawn.map((node) => node.id).sort()).toEqual([...activities].sort());
      for (const node of drawn) expect(node.width * node.height).toBeGreaterThan(0);

      // The taken path, read from the DOM: nodes by their step numbers, edges by their order.
      const taken = await page.$$eval(".node.taken", (nodes) =>
        nodes.flatMap((node) =>
          String(node.getAttribute("data-steps") ?? "")
            .split(" ")
            .map((step: string) => ({ step: Number(step), id: node.getAttribute("data-activity") })),
        ),
      );
      expect(taken.sort((a, b) => a.step - b.step).map((node) => node.id)).toEqual(result.path);
      const badges = await page.$$eval(".node.taken .badge text", (texts) =>
        texts.map((text) => text.textContent),
      );
      expect(badges.sort()).toEqual(result.path.map((_, index) => String(index + 1)).sort());
      const edges = await page.$$eval(".edge.taken", (list) =>
        list.map((edge) => ({
          order: Number(edge.getAttribute("data-order")),
          from: edge.getAttribute("data-from"),
          to: edge.getAttribute("data-to"),
          label: edge.querySelector("text")?.textContent,
        })),
      );
      expect(edges.sort((a, b) => a.order - b.order).map((edge) => [edge.from, edge.to])).toEqual(
        result.path.slice(1).map((to, index) => [result.path[index], to]),
      );
      expect(edges.map((edge) => edge.label)).toEqual(["success", "true", "default"]);
      // Highlighted means drawn differently: the stylesheet (allowed by its CSP hash) applied.
      const stroke = (selector: string) =>
        page.$eval(selector, (element) => {
          const view = globalThis as unknown as { getComputedStyle(target: unknown): { stroke: string } };
          return view.getComputedStyle(element).stroke;
        });
      expect(await stroke('.node[data-activity="lookup"] .shape')).toBe("rgb(47, 111, 222)");
      expect(await stroke('.node[data-activity="sorry"] .shape')).not.toBe("rgb(47, 111, 222)");

      // Nothing shown until asked; a click on a node shows that step (the script ran under its CSP hash).
      expect(await page.locator(".step-detail:visible").count()).toBe(0);
      await page.click('.node[data-activity="lookup"]');
      const shown = page.locator(".step-detail:visible");
      expect(await shown.count()).toBe(1);
      const details = await shown.innerText();
      expect(details).toContain("1 · lookup");
      expect(details).toContain("GET https://crm.example.com/api/accounts?phone=%2B15551234567 → 200");
      expect(details).toContain("authorization: [REDACTED]");
      expect(details).toMatch(/accountId\s+"A-17"/);
      // Hovering another step previews it; leaving restores the pinned one.
      await page.hover('button.step[data-step="3"]');
      expect(await page.locator(".step-detail:visible").getAttribute("data-step")).toBe("3");
      await page.mouse.move(1, 1);
      expect(await page.locator(".step-detail:visible").getAttribute("data-step")).toBe("1");
      await page.click('.node[data-activity="sorry"]');
      expect(await page.locator(".step-detail:visible").innerText()).toContain("not reached in this run");

      expect(await page.locator("table.variables").innerText()).toMatch(/isVip\s+true/);
      expect(await page.locator("ol.actions").innerText()).toContain("queue-contact");
    });
    expect(seen.requests).toEqual([`file://${report}`]);
    expect(seen.errors).toEqual([]);
  });

  it("test --reporter html: a summary, the failing case first with expected beside actual, a graph per case", async () => {
    const suite = path.join(dir, "suite");
    const testFile = readJson(crmTest);
    testFile.flow = path.resolve(root, crmFlow);
    testFile.connectors = path.resolve(root, "fixtures/connectors.json");
    testFile.cases[1].expect.endedAt = "vipQueue"; // the second case now fails
    await import("node:fs/promises").then((fs) => fs.mkdir(suite, { recursive: true }));
    writeFileSync(path.join(suite, "crm.test.json"), JSON.stringify(testFile));
    const report = path.join(dir, "test.html");
    const run = await cli(["test", suite, "--reporter", "html", "--output", report]);
    expect(run.code).toBe(1);
    const seen = await viewInChromium(report, "test-report.png", async (page) => {
      expect(await page.locator(".summary").innerText()).toMatch(/^1 passed, 1 failed/);
      const cases = await page.$$eval("section.case", (sections) =>
        sections.map((section) => ({
          name: section.getAttribute("data-case"),
          failed: section.classList.contains("case-failed"),
        })),
      );
      expect(cases).toEqual([
        { name: testFile.cases[1].name, failed: true },
        { name: testFile.cases[0].name, failed: false },
      ]);
      const mismatch = await page.$$eval("section.case-failed table.compare tr.mismatch", (rows) =>
        rows.map((row) => [...row.children].map((cell) => cell.textContent)),
      );
      expect(mismatch).toEqual([["endedAt", '"vipQueue"', '"end"']]);
      // Each case has its own graph with every activity, and its own path.
      const activities = Object.keys(readJson(crmFlow).activities).length;
      expect(await page.locator("section.case").nth(0).locator(".node").count()).toBe(activities);
      expect(await page.locator("section.case").nth(1).locator(".node").count()).toBe(activities);
      await page.locator("section.case").nth(0).locator('.node[data-activity="lookup"]').click();
      expect(await page.locator("section.case").nth(0).locator(".step-detail:visible").innerText()).toContain(
        "1 · lookup",
      );
      expect(await page.locator("section.case").nth(1).locator(".step-detail:visible").count()).toBe(0);
    });
    expect(seen.requests).toEqual([`file://${report}`]);
    expect(seen.errors).toEqual([]);
  });

  it("hostile flow and response values stay text: no script runs, no element is injected", async () => {
    const { html } = await hostileReport();
    const report = path.join(dir, "hostile.html");
    writeFileSync(report, html);
    const seen = await viewInChromium(report, "hostile-report.png", async (page) => {
      expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");
      expect(await page.evaluate("document.scripts.length")).toBe(1);
      expect(await page.locator("img").count()).toBe(0);
      expect(await page.locator("h1").innerText()).toBe(`flow ${HOSTILE.flowName}`);
      await page.click('.node[data-activity="say"]');
      expect(await page.locator(".step-detail:visible").innerText()).toContain(HOSTILE.prompt);
      const edgeLabels = await page.$$eval(".edge text", (texts) => texts.map((text) => text.textContent));
      expect(edgeLabels).toContain(`= ${HOSTILE.caseValue}`);
    });
    expect(seen.requests).toEqual([`file://${report}`]);
  });
});
