import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, launchChromium } from "../../scripts/chromium.mjs";

/**
 * Whether browser tests run here. Without chromium they are skipped with one visible line, except in CI
 * (`CI=true`), where they run and fail: a report nobody opened in a browser is not verified.
 */
export function browserTestsEnabled(what: string): boolean {
  if (existsSync(CHROMIUM) || process.env.CI === "true") return true;
  console.warn(
    `${what}: skipped, ${CHROMIUM} not found (apt-get install -y chromium); never skipped with CI=true`,
  );
  return false;
}

/** Screenshots of browser tests go here (git-ignored), for a person to look at. */
export const SCREENSHOTS = path.resolve(import.meta.dirname, "../../.tmp/report-screenshots");

export interface OpenedPage {
  readonly page: Page;
  /** Every URL the page requested, the report's own file included. */
  readonly requests: string[];
  /** Console errors and uncaught page errors (a CSP violation shows here). */
  readonly errors: string[];
  close(): Promise<void>;
}

/**
 * Opens a local HTML file in headless Chromium with a new, empty profile. Every request is recorded; anything but
 * the file itself is aborted, so a report that tried to fetch something shows it in `requests` without reaching out.
 */
export async function openInChromium(file: string): Promise<OpenedPage> {
  const profile = mkdtempSync(path.join(tmpdir(), "flowrun-chromium-"));
  let context: BrowserContext;
  try {
    context = await launchChromium(profile, { width: 1280, height: 900 });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  const requests: string[] = [];
  const errors: string[] = [];
  const own = new URL(`file://${path.resolve(file)}`).href;
  context.on("request", (request) => requests.push(request.url()));
  await context.route("**/*", (route) => (route.request().url() === own ? route.continue() : route.abort()));
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(own);
  return {
    page,
    requests,
    errors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Opens `file`, runs `check` on the page, saves a screenshot named `screenshotName`, closes the browser, and returns
 * what the page requested and reported as errors, for the test to assert.
 */
export async function viewInChromium(
  file: string,
  screenshotName: string,
  check: (page: Page) => Promise<void>,
): Promise<{ requests: string[]; errors: string[] }> {
  const opened = await openInChromium(file);
  try {
    await check(opened.page);
    await screenshot(opened.page, screenshotName);
    return { requests: opened.requests, errors: opened.errors };
  } finally {
    await opened.close();
  }
}
