import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorsFile, RedisFleet } from "../../src/index.js";
import { crmConnector } from "../helpers/connectors.js";
import { killMembers, type Member, startMember } from "../helpers/fleet-members.js";
import { httpFlow } from "../helpers/http-flows.js";
import {
  closeFleets,
  deleteKeys,
  dumpKeys,
  REDIS_URL,
  redisReachable,
  secretForms,
  seededFleet,
  uniquePrefix,
} from "../helpers/redis.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";
import { oauthError, startTokenServer, type TokenServer, tokenAnswer } from "../helpers/token-server.js";

/** Real processes sharing one Redis: tokens fetched once for the fleet, rotated refresh tokens shared. */

const reachable = await redisReachable("test/fleet/cross-process.test.ts");
let api: LoopbackServer;
let tokens: TokenServer | undefined;
let prefix: string;
let admin: RedisFleet;

beforeAll(async () => {
  api = await startHttpServer((request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ ok: true, auth: request.headers.authorization ?? null }));
  });
});
afterEach(async () => {
  killMembers();
  await tokens?.close();
  tokens = undefined;
  await closeFleets();
  await deleteKeys(REDIS_URL, prefix);
});
afterAll(() => closeAllServers());

async function seed(document: ConnectorsFile): Promise<void> {
  prefix = uniquePrefix("xproc");
  admin = await seededFleet(document, prefix);
}

const flow = (connector: string) => httpFlow({ connector, requestPath: "/accounts", timeoutMs: 5000 });

async function members(count: number, connector: string): Promise<Member[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      startMember({
        redis: { url: REDIS_URL, prefix },
        flow: flow(connector),
        mode: "once",
        waitForGo: true,
      }),
    ),
  );
}

async function runTogether(group: Member[]) {
  await Promise.all(group.map((member) => member.next((e) => e.event === "ready")));
  for (const member of group) member.send("go");
  return Promise.all(group.map((member) => member.next((e) => e.event === "result")));
}

/**
 * A token endpoint that accepts only the current refresh token and rotates it at every use, as RFC 6749 section 6
 * allows; expires_in 0, so nothing is cached and every run refreshes. Seeds a Webex Contact Center connector.
 */
async function seedWebex(): Promise<void> {
  let current = 1;
  tokens = await startTokenServer({
    fallback: (request) => {
      if (request.form.refresh_token !== `Rotating-Refresh-${current}`)
        return oauthError("invalid_grant", "refresh token is not current");
      current++;
      return tokenAnswer({
        access_token: `access-${current - 1}`,
        expires_in: 0,
        refresh_token: `Rotating-Refresh-${current}`,
      });
    },
  });
  await seed({
    connectors: [
      {
        id: "wx-1",
        name: "Webex CC",
        type: "webex-contact-center",
        status: "active",
        access: "read-write",
        clientId: "C0ffee",
        clientSecret: "Webex-Client-Secret-0001",
        refreshToken: "Rotating-Refresh-1",
        tokenUrl: tokens!.url("/v1/access_token"),
        resourceDomainUrl: api.url,
      },
    ] as ConnectorsFile["connectors"],
  });
}

describe.skipIf(!reachable)("a fleet of processes on one Redis", () => {
  it("8 processes on a cold cache make 1 token request, and Redis holds no secret in clear", async () => {
    // The answer is slow so that all 8 are waiting while the first fetch is under way.
    tokens = await startTokenServer({
      fallback: async () => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        return tokenAnswer({ access_token: "Fleet-Access-Token-0001", expires_in: 3600 });
      },
    });
    await seed({ connectors: [crmConnector(api.url, tokens.url(), "Fleet-Client-Secret-0001")] });
    const results = await runTogether(await members(8, "CRM"));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill("completed"));
    for (const result of results)
      expect((result.out as { json: { auth: string } }).json.auth).toBe("Bearer Fleet-Access-Token-0001");
    expect(tokens.requests).toHaveLength(1);

    const dump = await dumpKeys(REDIS_URL, prefix);
    const text = [...dump].join("\n");
    for (const secret of ["Fleet-Access-Token-0001", "Fleet-Client-Secret-0001"])
      for (const form of secretForms(secret)) expect(text).not.toContain(form);
    const tokenKeys = [...dump.keys()].filter((key) => key.startsWith(`${prefix}token:`));
    expect(tokenKeys).toHaveLength(1);
    // The key expires with its token (3600 s less the safety margin).
    const ttl = await admin.connection.commands.pttl(tokenKeys[0]!);
    expect(ttl).toBeGreaterThan(3_400_000);
    expect(ttl).toBeLessThanOrEqual(3_540_000);
  });

  it("a second process refreshes with the refresh token the first one rotated (stored sealed)", async () => {
    await seedWebex();
    const [first] = await runTogether(await members(1, "Webex CC"));
    expect(first).toMatchObject({ status: "completed" });
    const [second] = await runTogether(await members(1, "Webex CC"));
    expect(second).toMatchObject({ status: "completed" });
    expect((second!.out as { json: { auth: string } }).json.auth).toBe("Bearer access-2");
    expect(tokens!.requests.map((r) => r.form.refresh_token)).toEqual([
      "Rotating-Refresh-1",
      "Rotating-Refresh-2",
    ]);
    const text = [...(await dumpKeys(REDIS_URL, prefix))].join("\n");
    for (const secret of [
      "Rotating-Refresh-1",
      "Rotating-Refresh-2",
      "Rotating-Refresh-3",
      "Webex-Client-Secret-0001",
    ])
      for (const form of secretForms(secret)) expect(text).not.toContain(form);
  });

  it("4 processes refreshing at once never spend one refresh token twice", async () => {
    await seedWebex();
    const group = await Promise.all(
      Array.from({ length: 4 }, () =>
        startMember({ redis: { url: REDIS_URL, prefix }, flow: flow("Webex CC"), mode: "loop", pauseMs: 0 }),
      ),
    );
    const results = (member: Member) => member.events.filter((e) => e.event === "result");
    await Promise.all(group.map((member) => member.next(() => results(member).length >= 4)));
    for (const member of group) member.send("stop");
    await Promise.all(group.map((member) => member.exited));
    const all = group.flatMap(results);
    expect(all.every((result) => result.status === "completed")).toBe(true);
    const used = tokens!.requests.map((request) => request.form.refresh_token);
    // Each refresh used the token the previous one rotated: none was refused with invalid_grant.
    expect(used).toEqual(used.map((_, index) => `Rotating-Refresh-${index + 1}`));
    expect(used.length).toBeGreaterThanOrEqual(16);
  });
});
