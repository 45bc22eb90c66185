// Regenerates docs/report.png, the README's picture of an HTML report: the sample CRM flow replayed from its
// recorded case, its HTTP step selected. Needs `npm run build` and /usr/bin/chromium.
// Usage: node scripts/report-screenshot.mjs
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { launchChromium } from "./chromium.mjs";

const root = path.resolve(import.meta.dirname, "..");
const work = mkdtempSync(path.join(tmpdir(), "flowrun-shot-"));
const report = path.join(work, "report.html");
execFileSync(
  process.execPath,
  [
    "bin/flowrun.js",
    "run",
    "fixtures/flows/crm-lookup.flow.json",
    "--replay",
    "fixtures/flows/crm-lookup.test.json",
    "--case",
    "VIP caller goes to the VIP queue",
    "--report",
    report,
  ],
  { cwd: root, stdio: "ignore" },
);
const context = await launchChromium(path.join(work, "profile"), { width: 1040, height: 700 });
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`file://${report}`);
  await page.click('.node[data-activity="lookup"]');
  await page.locator(".run-body").screenshot({ path: path.join(root, "docs/report.png") });
} finally {
  await context.close();
  rmSync(work, { recursive: true, force: true });
}
