// `@opentelemetry/api` is the host's (an optional peer dependency): flowrun reports to a provider registered through
// the oldest API version it supports, and works in a host without the API. Real host processes.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import packageJson from "../../package.json" with { type: "json" };
import { bundleScript, startNode } from "../helpers/processes.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const alias = path.join(here, "hosts", "api-alias.cjs");

async function runHost(api: string): Promise<{ version: string | null; status: string; spans: string[] }> {
  const script = await bundleScript("test/telemetry/hosts/otel-host.ts");
  const host = startNode(script, [], {
    env: { NODE_OPTIONS: `--require ${alias}`, FLOWRUN_TEST_OTEL_API: api },
  });
  const exited = await host.exited;
  expect(exited.stderr).toBe("");
  expect(exited.code).toBe(0);
  return JSON.parse(exited.stdout);
}

describe("@opentelemetry/api versions", () => {
  it("is an optional peer dependency whose oldest supported version is the one tested here", () => {
    expect(packageJson.dependencies).not.toHaveProperty("@opentelemetry/api");
    expect(packageJson.peerDependencies["@opentelemetry/api"]).toBe(">=1.3.0 <2");
    expect(packageJson.peerDependenciesMeta["@opentelemetry/api"]).toEqual({ optional: true });
    expect(packageJson.devDependencies["otel-api-oldest"]).toBe("npm:@opentelemetry/api@1.3.0");
  });

  it("a host on the oldest supported API version receives flowrun's spans on its provider", async () => {
    const oldest = createRequire(import.meta.url).resolve("otel-api-oldest");
    const host = await runHost(oldest);
    expect(host).toEqual({ version: "1.3.0", status: "completed", spans: ["flowrun.run"] });
  }, 30_000);

  it("a host without the API runs flows (telemetry off)", async () => {
    expect(await runHost("missing")).toEqual({ version: null, status: "completed", spans: [] });
  }, 30_000);
});
