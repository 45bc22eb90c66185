import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorsFile } from "../../src/index.js";
import { cli } from "../helpers/cli.js";
import { webexConnector } from "../helpers/connectors.js";
import { killMembers, type Member, startMember } from "../helpers/fleet-members.js";
import { httpFlow } from "../helpers/http-flows.js";
import { closeFleets, fleetEngine, fleetMember, seededFleet, TEST_TOKEN_KEY } from "../helpers/redis.js";
import { type OwnRedis, ownRedis, redisServerInstalled } from "../helpers/redis-server.js";
import { type RotatingTokenServer, startRotatingTokenServer } from "../helpers/rotating-token-server.js";
import { closeAllServers, type LoopbackServer, okJson, startHttpServer } from "../helpers/servers.js";

/**
 * A fleet of real processes on a redis-server of the test's own, a Webex-style connector whose token server rotates
 * the refresh token on every use and refuses a spent one. Redis faults while refreshes are due must not lose the
 * token the server currently accepts: after the fault clears every process completes runs again, and the server
 * never sees a retired refresh token.
 */

/** Short-lived access tokens, so that refreshes fall due during every fault. */
const LIFETIME_SECONDS = 2;
/** After a fault clears, each process must complete runs within this long (two token lifetimes, plus the settle window). */
const RECOVERY_MS = 2 * LIFETIME_SECONDS * 1000 + 2500 + 3000;

let api: LoopbackServer;
let tokens: RotatingTokenServer;
let redis: OwnRedis | undefined;
let dataDir: string | undefined;

beforeAll(async () => {
  api = await startHttpServer(okJson);
});
afterEach(async () => {
  killMembers();
  await closeFleets();
  await redis?.kill();
  await tokens?.close();
  redis = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});
afterAll(closeAllServers);

const document = (): ConnectorsFile =>
  ({
    connectors: [webexConnector(tokens.url("/v1/access_token"), api.url, { status: "active" })],
  }) as ConnectorsFile;

const flow = httpFlow({ connector: "Webex CC", requestPath: "/v1/queues", timeoutMs: 1000 });

async function startFleet(count: number, extraArgs: readonly string[] = []): Promise<Member[]> {
  tokens = await startRotatingTokenServer({ lifetimeSeconds: LIFETIME_SECONDS });
  redis = await ownRedis(extraArgs);
  await seededFleet(document(), undefined, redis.url);
  return Promise.all(
    Array.from({ length: count }, () =>
      startMember({ redis: { url: redis!.url, prefix: "flowrun:" }, flow, mode: "loop", pauseMs: 50 }),
    ),
  );
}

const completed = (member: Member) =>
  member.events.filter(
    (event) =>
      event.event === "result" &&
      event.status === "completed" &&
      (event.out as { statusCode?: number } | null)?.statusCode === 200,
  ).length;

/** Waits until every member has completed `runs` more runs than now. */
async function everyMemberCompletes(members: Member[], runs: number, timeoutMs: number): Promise<void> {
  await Promise.all(
    members.map((member) => {
      const target = completed(member) + runs;
      return member.next(() => completed(member) >= target, timeoutMs);
    }),
  );
}

/** Waits until the server has rotated `count` more times (refreshes fell due and were made). */
async function rotations(count: number, timeoutMs = 20_000): Promise<void> {
  const target = tokens.current() + count;
  const until = performance.now() + timeoutMs;
  while (tokens.current() < target) {
    if (performance.now() > until) throw new Error(`the server rotated only to ${tokens.current()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until Redis holds a refresh token of `connectorId` (`<generation>:<sealed>`); its generation. */
async function storedRefreshGeneration(
  url: string,
  connectorId: string,
  timeoutMs = 10_000,
): Promise<number> {
  const reader = new Redis(url);
  try {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const [key] = await reader.keys(`flowrun:refresh:${connectorId}:*`);
      const value = key === undefined ? null : await reader.get(key);
      if (value !== null) return Number(/^(\d+):/.exec(value)?.[1] ?? 0);
      if (performance.now() > until) throw new Error(`no refresh token of ${connectorId} in Redis`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    reader.disconnect();
  }
}

async function stopMembers(members: Member[]): Promise<void> {
  for (const member of members) member.send("stop");
  await Promise.all(members.map((member) => member.exited));
  for (const member of members)
    expect(member.events.some((event) => event.event === "unhandled")).toBe(false);
}

describe("choosing what the CLI does while Redis is unreachable", () => {
  it("FLOWRUN_REFRESH_WHILE_UNREACHABLE with another value: exit 2 naming the variable and the choices", async () => {
    const result = await cli(
      ["run", "fixtures/flows/crm-lookup.flow.json", "--redis", "redis://127.0.0.1:1"],
      {
        env: { FLOWRUN_TOKEN_KEY: TEST_TOKEN_KEY, FLOWRUN_REFRESH_WHILE_UNREACHABLE: "sometimes" },
      },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: FLOWRUN_REFRESH_WHILE_UNREACHABLE is "sometimes"; it must be "wait" or "refresh-locally"\n',
    );
  });
});

const installed = redisServerInstalled("test/fleet/rotation-faults.test.ts");

describe.skipIf(!installed)("a rotated refresh token is never lost to a Redis fault", () => {
  it("three processes, Redis stopped and restarted without its data", { timeout: 60_000 }, async () => {
    const members = await startFleet(3);
    await everyMemberCompletes(members, 3, 20_000);
    await rotations(2);
    await redis!.kill();
    // Refreshes fall due while Redis is away.
    await new Promise((resolve) => setTimeout(resolve, LIFETIME_SECONDS * 1000 + 500));
    await redis!.start();
    await everyMemberCompletes(members, 3, RECOVERY_MS);
    await stopMembers(members);
    expect(tokens.reuses).toEqual([]);
    // The default fails closed while Redis is away: runs that needed a new token said why.
    const failedClosed = members.flatMap((member) =>
      member.events.filter((event) =>
        /no token refresh without the fleet's token store/.test(
          String((event.out as { error?: { message?: string } } | null)?.error?.message ?? ""),
        ),
      ),
    );
    expect(failedClosed.length).toBeGreaterThan(0);
  });

  it("Redis restarted from an old snapshot (an older refresh token generation)", {
    timeout: 60_000,
  }, async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "flowrun-redis-data-"));
    const members = await startFleet(2, ["--dir", dataDir, "--dbfilename", "dump.rdb"]);
    await everyMemberCompletes(members, 2, 20_000);
    const admin = new Redis(redis!.url);
    await admin.save();
    admin.disconnect();
    // The fleet goes on rotating after the snapshot: Redis's copy on disk is now stale.
    await rotations(2);
    await redis!.kill();
    await redis!.start();
    await everyMemberCompletes(members, 3, RECOVERY_MS);
    await rotations(1, RECOVERY_MS);
    await stopMembers(members);
    expect(tokens.reuses).toEqual([]);
  });

  it("Redis paused (CLIENT PAUSE) past the request timeout while a refresh is due", {
    timeout: 60_000,
  }, async () => {
    const members = await startFleet(2);
    await everyMemberCompletes(members, 2, 20_000);
    const admin = new Redis(redis!.url);
    try {
      // Paused until the access tokens have expired: the refresh falls due while Redis answers nothing.
      await admin.call("CLIENT", "PAUSE", String(LIFETIME_SECONDS * 1000 + 700), "ALL");
      await new Promise((resolve) => setTimeout(resolve, LIFETIME_SECONDS * 1000 + 700));
    } finally {
      admin.disconnect();
    }
    await everyMemberCompletes(members, 3, RECOVERY_MS);
    await rotations(1, RECOVERY_MS);
    await stopMembers(members);
    expect(tokens.reuses).toEqual([]);
  });

  it("refresh-locally: a process refreshes without Redis and writes the rotation back when Redis returns", {
    timeout: 60_000,
  }, async () => {
    tokens = await startRotatingTokenServer({ lifetimeSeconds: LIFETIME_SECONDS });
    redis = await ownRedis();
    await seededFleet(document(), undefined, redis.url);
    const member = await startMember({
      redis: { url: redis.url, prefix: "flowrun:" },
      flow,
      mode: "loop",
      pauseMs: 50,
      refreshWhileUnreachable: "refresh-locally",
    });
    await everyMemberCompletes([member], 2, 20_000);
    await redis.kill();
    const before = tokens.current();
    await rotations(1);
    // Every run completes during the outage: this process refreshes on its own, and says so.
    await everyMemberCompletes([member], 3, RECOVERY_MS);
    const announced = () =>
      member.events.flatMap((event) => {
        const match =
          event.event === "warning"
            ? /connector c-wxcc: refreshed its token without the fleet's lease.*\(generation (\d+)\)/.exec(
                String(event.message),
              )
            : null;
        return match ? [Number(match[1])] : [];
      });
    expect(announced().length).toBeGreaterThan(0);
    // Redis comes back empty. The first refresh token it holds is the one this process rotated without the lease
    // and announced, written back on the reconnect (a lease refresh after the settle window would bring a
    // generation nobody announced).
    await redis.start();
    const written = await storedRefreshGeneration(redis.url, "c-wxcc");
    await member.next(() => announced().includes(written), 2000);
    expect(written).toBeGreaterThanOrEqual(before);
    await everyMemberCompletes([member], 3, RECOVERY_MS);
    await stopMembers([member]);
    expect(tokens.current()).toBeGreaterThan(before);
    expect(tokens.reuses).toEqual([]);
  });

  it("a lease lost mid-refresh is noticed; the rotated token is still stored by generation", {
    timeout: 60_000,
  }, async () => {
    tokens = await startRotatingTokenServer({ lifetimeSeconds: 3600 });
    redis = await ownRedis();
    const admin = await seededFleet(document(), undefined, redis.url);
    const warnings: string[] = [];
    const engineIn = async () => {
      const fleet = await fleetMember(undefined, redis!.url, TEST_TOKEN_KEY, {
        onWarning: (message) => warnings.push(message),
      });
      const { engine, close } = await fleetEngine(fleet);
      return {
        flow: engine.compile(httpFlow({ connector: "Webex CC", requestPath: "/v1/queues", timeoutMs: 8000 })),
        close,
      };
    };
    const first = await engineIn();
    const second = await engineIn();
    try {
      // The answer comes after 2.5 s; the lease is taken from its holder (as a Redis that lost it would) meanwhile.
      tokens.fault({ delayMs: 2500 });
      const running = first.flow.run();
      const commands = admin.connection.commands;
      let leases: string[] = [];
      while (leases.length === 0) {
        leases = await commands.keys("flowrun:lease:*");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await commands.del(...leases);
      expect(((await running).variables.out as { statusCode: number }).statusCode).toBe(200);
      expect(
        warnings.some((warning) => /connector c-wxcc: lost the token lease while refreshing/.test(warning)),
      ).toBe(true);
      // The other process has no token: it takes the lease and refreshes with the generation the first one stored.
      expect(((await second.flow.run()).variables.out as { statusCode: number }).statusCode).toBe(200);
    } finally {
      await first.close();
      await second.close();
    }
    expect(tokens.spent).toEqual(["rt-1", "rt-2"]);
    expect(tokens.reuses).toEqual([]);
  });
});
