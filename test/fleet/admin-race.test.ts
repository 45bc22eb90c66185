// Admin commands racing on one connectors file never lose a change they reported as done, and a writer
// killed while holding the lock does not block the next one. Real `flowrun connectors` processes throughout.
import { readdir, readFile, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { ConnectorFileStore, ConnectorRegistry } from "../../src/index.js";
import { connectorInput, tempDir } from "../connectors/builders.js";
import { bundleScript, cliScript, type Exited, runCliProcess, startNode } from "../helpers/processes.js";

const env = { CRM_PASSWORD: "pw-0f-the-crm" };
const ROUNDS = 5;
/** Names added per round; one more add repeats the first name in another case, so one of the two is refused. */
const ADDS_PER_ROUND = 7;
const DEACTIVATIONS_PER_ROUND = 2;

interface SavedConnector {
  id: string;
  name: string;
  status: string;
}

beforeAll(async () => {
  // Built before the tests start, so that their time goes to the processes under test.
  await Promise.all([cliScript(), bundleScript("test/fleet/hold-lock.ts")]);
}, 60_000);

async function raceFile(...names: string[]): Promise<{ dir: string; file: string }> {
  const dir = await tempDir();
  const file = path.join(dir, "race.json");
  await writeFile(file, '{ "connectors": [] }\n');
  const admin = await ConnectorRegistry.open(new ConnectorFileStore(file), {
    role: "full-admin",
    follow: false,
  });
  for (const name of names) await admin.create(connectorInput("custom", name));
  return { dir, file };
}

const add = (dir: string, name: string) =>
  runCliProcess(["connectors", "add", "--stdin", "--file", "race.json"], {
    cwd: dir,
    env,
    // Genesys has no per-organisation limit, so rounds of adds never meet the limit rule.
    stdin: JSON.stringify(connectorInput("genesys", name)),
  });

const deactivate = (dir: string, name: string) =>
  runCliProcess(["connectors", "deactivate", name, "--file", "race.json"], { cwd: dir, env });

async function saved(file: string): Promise<Map<string, SavedConnector>> {
  const document = JSON.parse(await readFile(file, "utf8")) as { connectors: SavedConnector[] };
  return new Map(document.connectors.map((connector) => [connector.name, connector]));
}

/** Reads the file as fast as it can while `racing()`; every read must be a whole connectors document. */
async function sampleWhile(
  file: string,
  racing: () => boolean,
): Promise<{ reads: number; invalid: string[] }> {
  let reads = 0;
  const invalid: string[] = [];
  while (racing()) {
    const text = await readFile(file, "utf8");
    reads++;
    try {
      if (!Array.isArray((JSON.parse(text) as { connectors?: unknown }).connectors)) invalid.push(text);
    } catch {
      invalid.push(text);
    }
    await sleep(1);
  }
  return { reads, invalid };
}

/** A refusal says why: exit 1 or 2 and an `error:` line naming the reason, nothing on stdout claiming success. */
function expectExplainedRefusal(run: Exited): void {
  expect(run.code === 1 || run.code === 2, JSON.stringify(run)).toBe(true);
  expect(run.stderr).toMatch(/^error: .*(already used|being saved by|changed since it was read)/m);
  expect(run.stdout).not.toMatch(/created|deactivated/);
}

describe("racing `flowrun connectors` processes on one file", () => {
  it(`${ROUNDS} rounds of ${ADDS_PER_ROUND + 1} adds and ${DEACTIVATIONS_PER_ROUND} deactivations at once: every reported success is in the file`, async () => {
    const { dir, file } = await raceFile("Seed-0", "Seed-1");
    let active = ["Seed-0", "Seed-1"];
    const expected = new Map<string, string>([
      ["Seed-0", "active"],
      ["Seed-1", "active"],
    ]);
    let reads = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const names = Array.from({ length: ADDS_PER_ROUND }, (_, i) => `R${round}-${i}`);
      const duplicate = `r${round}-0`; // the unique name rule is case-insensitive
      const toDeactivate = active.slice(0, DEACTIVATIONS_PER_ROUND);
      let racing = true;
      const sampler = sampleWhile(file, () => racing);
      const [adds, deactivations] = await Promise.all([
        Promise.all([...names, duplicate].map((name) => add(dir, name))),
        Promise.all(toDeactivate.map((name) => deactivate(dir, name))),
      ]);
      racing = false;
      const sampled = await sampler;
      expect(sampled.invalid, `round ${round}: the file was read half-written`).toEqual([]);
      reads += sampled.reads;

      const now = await saved(file);
      for (const [i, name] of [...names, duplicate].entries()) {
        const run = adds[i]!;
        if (run.code !== 0) {
          expectExplainedRefusal(run);
          continue;
        }
        const id = /created connector "([^"]+)" \(genesys, id ([0-9a-f-]{36})\), active/.exec(run.stdout);
        expect(id, run.stdout).not.toBeNull();
        // Reported created: it is in the file, under the id it reported, active.
        expect(now.get(id![1]!), `round ${round}: ${name} reported created but missing`).toMatchObject({
          id: id![2],
          status: "active",
        });
        expected.set(id![1]!, "active");
      }
      // Exactly one of the two adds with one name (in two cases) was refused, by the unique name rule.
      const pair = [adds[0]!, adds[ADDS_PER_ROUND]!];
      expect(pair.filter((run) => run.code === 0)).toHaveLength(1);
      expect(pair.find((run) => run.code !== 0)?.stderr).toMatch(/create refused by the unique name rule/);
      expect(adds.slice(1, ADDS_PER_ROUND).every((run) => run.code === 0)).toBe(true);

      toDeactivate.forEach((name, i) => {
        const run = deactivations[i]!;
        expect(run.code, run.stderr).toBe(0);
        expect(run.stdout).toContain(`deactivated connector "${name}"`);
        expected.set(name, "inactive");
      });
      // Nothing lost, nothing extra: every connector has the status its last reported command gave it.
      expect(new Map([...now].map(([name, connector]) => [name, connector.status]))).toEqual(expected);
      expect(await readdir(dir)).toEqual(["race.json"]); // no lock, temp or stale file left behind
      active = [...expected].filter(([, status]) => status === "active").map(([name]) => name);
    }
    expect(reads).toBeGreaterThan(ROUNDS);
    // Still a file the registry accepts.
    const reopened = await ConnectorRegistry.open(new ConnectorFileStore(file), { follow: false });
    expect(reopened.toDocument().connectors).toHaveLength(expected.size);
  }, 60_000);

  it("a writer killed while it holds the lock: the writers waiting for it proceed (dead pid) and their changes land", async () => {
    const { dir, file } = await raceFile("CRM");
    const holder = startNode(await bundleScript("test/fleet/hold-lock.ts"), [file]);
    const locked = await holder.waitForLine((line) => line.startsWith("locked by "));
    expect(locked).toBe(`locked by ${holder.child.pid}`);

    // While the holder lives, a writer is refused, naming it (a short wait here; the CLI waits 10 s).
    const impatient = await ConnectorRegistry.open(
      new ConnectorFileStore(file, { lock: { timeoutMs: 200 } }),
      { role: "full-admin", follow: false },
    );
    const refused = await impatient.create(connectorInput("custom", "Early")).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "store-locked" });
    expect((refused as Error).message).toContain(`being saved by process ${holder.child.pid}`);

    // Writers start and wait for the lock; then the holder dies without releasing it.
    const waiting = [add(dir, "After-1"), add(dir, "After-2"), deactivate(dir, "CRM")];
    await sleep(300);
    expect((await saved(file)).has("After-1")).toBe(false);
    holder.child.kill("SIGKILL");
    expect((await holder.exited).code).toBeNull();
    // An mtime in the future: only the dead-pid check can take the lock over, the age check never would (and the
    // writers would be refused after their 10 s).
    const later = new Date(Date.now() + 3_600_000);
    await utimes(`${file}.lock`, later, later).catch(() => undefined); // already taken over: fine
    const results = await Promise.all(waiting);
    for (const run of results) expect(run.code, run.stderr).toBe(0);
    const now = await saved(file);
    expect(now.get("After-1")?.status).toBe("active");
    expect(now.get("After-2")?.status).toBe("active");
    expect(now.get("CRM")?.status).toBe("inactive");
    expect(await readdir(dir)).toEqual(["race.json"]);
  }, 30_000);
});
