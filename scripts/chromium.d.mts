import type { BrowserContext } from "playwright-core";

export declare const CHROMIUM: string;
export declare function launchChromium(
  profileDir: string,
  viewport: { width: number; height: number },
): Promise<BrowserContext>;
