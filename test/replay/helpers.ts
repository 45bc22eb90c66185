import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const fixturesDir = path.join(repoRoot, "fixtures", "flows");
export const fixtureConnectors = path.join(repoRoot, "fixtures", "connectors.json");

export async function tempDir(prefix = "flowrun-replay-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function readJson<T = unknown>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, "utf8")) as T;
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Copies a fixture flow and its test file into `dir`, the test file pointing at the copy and the fixture connectors. */
export async function copyFixture(name: string, dir: string): Promise<{ flow: string; testFile: string }> {
  const flow = path.join(dir, `${name}.flow.json`);
  const testFile = path.join(dir, `${name}.test.json`);
  await copyFile(path.join(fixturesDir, `${name}.flow.json`), flow);
  const test = await readJson<Record<string, unknown>>(path.join(fixturesDir, `${name}.test.json`));
  await writeJson(testFile, { ...test, flow: `./${name}.flow.json`, connectors: fixtureConnectors });
  return { flow, testFile };
}

/** The environment of a CI machine: no connector secrets at all. */
export function envWithoutSecrets(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/SECRET|PASSWORD|TOKEN|KEY/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

/**
 * Writes `dir/connectors.json` with one connector, "Helpdesk": OAuth 2 client credentials against `serverUrl`
 * (token at `/oauth/token`, client in a Basic header), its client secret from the environment variable `secretEnv`.
 */
export async function writeHelpdeskConnectors(
  dir: string,
  serverUrl: string,
  client: { id: string; secretEnv: string },
): Promise<void> {
  await writeJson(path.join(dir, "connectors.json"), {
    connectors: [
      {
        id: "7d4e1c2a-0000-4000-8000-000000000001",
        name: "Helpdesk",
        type: "custom",
        status: "active",
        resourceDomainUrl: serverUrl,
        auth: {
          type: "oauth2",
          grantType: "client_credentials",
          clientId: client.id,
          clientSecret: { env: client.secretEnv },
          tokenUrl: `${serverUrl}/oauth/token`,
          clientAuth: "basic",
        },
      },
    ],
  });
}
