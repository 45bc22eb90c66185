// The package as a host installs it: the built dist, loaded by real Node processes. `import` loads no Redis
// client, `require` works, source maps carry their sources, the CLI knows its version, LICENSE and repository.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import packageJson from "../../package.json" with { type: "json" };

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Runs `node -e script` in the package root, where `flowrun` resolves to the package itself (its exports). */
function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: "utf8", timeout: 30_000 });
}

beforeAll(() => {
  execFileSync(
    process.execPath,
    [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: root,
      stdio: "pipe",
    },
  );
}, 120_000);

describe("the built package", () => {
  it('import "flowrun" loads no ioredis (a fleet loads it when it connects)', () => {
    const loaded = node([
      "--input-type=module",
      "-e",
      `await import("flowrun");
       const { createRequire } = await import("node:module");
       const cache = Object.keys(createRequire(import.meta.url).cache);
       console.log(JSON.stringify(cache.filter((file) => file.includes("/node_modules/ioredis/")).length));`,
    ]);
    expect(JSON.parse(loaded)).toBe(0);
  });

  it('require("flowrun") works (exports has a default condition)', () => {
    expect(packageJson.exports["."]).toMatchObject({ default: "./dist/index.js" });
    const out = node([
      "-e",
      'const f = require("flowrun"); console.log(typeof f.createEngine, typeof f.connectRedisFleet)',
    ]);
    expect(out.trim()).toBe("function function");
  });

  it("source maps carry their sources (src/ is not shipped)", () => {
    expect(packageJson.files).not.toContain("src");
    const map = JSON.parse(readFileSync(path.join(root, "dist/runtime/create-engine.js.map"), "utf8"));
    expect(map.sourcesContent?.[0]).toContain("export function createEngine");
  });

  it("flowrun --version prints the package version", () => {
    expect(node(["bin/flowrun.js", "--version"]).trim()).toBe(packageJson.version);
  });

  it("ships a LICENSE matching its license field, and names its repository", () => {
    expect(packageJson.license).toBe("MIT");
    expect(readFileSync(path.join(root, "LICENSE"), "utf8")).toMatch(/^MIT License/);
    expect(packageJson.files).toContain("LICENSE");
    expect(packageJson.repository).toMatchObject({ type: "git" });
    expect(existsSync(path.join(root, "dist/index.d.ts"))).toBe(true);
  });
});
