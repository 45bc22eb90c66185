// The one way flowrun launches Chromium: the browser tests (test/helpers/browser.ts) and the README screenshot
// (scripts/report-screenshot.mjs) share it. Plain JavaScript so that the script runs without a build step.
import { chromium } from "playwright-core";

/** Debian's chromium package; `.ci/run` installs it when missing. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Headless Chromium with its own profile folder: no sandbox (containers run as root), no QUIC, and none of the
 * browser's own background traffic, so that every request seen is one the page made.
 */
export function launchChromium(profileDir, viewport) {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport,
  });
}
