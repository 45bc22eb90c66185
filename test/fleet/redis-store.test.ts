import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  ConnectorError,
  ConnectorRegistry,
  connectRedisFleet,
  RedisUnavailableError,
  TokenKeyError,
} from "../../src/index.js";
import {
  closeFleets,
  deleteKeys,
  dumpKeys,
  fleetMember,
  REDIS_URL,
  redisReachable,
  secretForms,
  TEST_TOKEN_KEY,
  uniquePrefix,
  waitFor,
} from "../helpers/redis.js";
import { closedPort } from "../helpers/token-server.js";

const reachable = await redisReachable("test/fleet/redis-store.test.ts");
const prefix = uniquePrefix("store");
const member = () => fleetMember(prefix);

const crm = (name = "CRM") => ({
  name,
  type: "custom",
  resourceDomainUrl: "https://crm.example.com",
  auth: {
    type: "oauth2",
    clientId: "flows",
    clientSecret: "Sup3r-Secret-Client-Value",
    tokenUrl: "https://auth.example.com/oauth/token",
  },
});

afterEach(async () => {
  await closeFleets();
  await deleteKeys(REDIS_URL, prefix);
});
afterAll(() => deleteKeys(REDIS_URL, prefix));

describe("the fleet token key (no Redis needed)", () => {
  it.each([
    [undefined, /FLOWRUN_TOKEN_KEY is not set/],
    ["not base64!", /FLOWRUN_TOKEN_KEY is not base64/],
    [Buffer.alloc(16).toString("base64"), /decodes to 16 bytes, expected 32/],
  ])("%s is refused with a clear message before Redis is touched", async (key, message) => {
    const attempt = connectRedisFleet({
      url: "redis://127.0.0.1:1",
      env: key === undefined ? {} : { FLOWRUN_TOKEN_KEY: key },
    });
    await expect(attempt).rejects.toThrow(TokenKeyError);
    await expect(attempt).rejects.toThrow(message);
  });
});

describe("Redis unreachable at start", () => {
  it("is a clear error naming the URL (password hidden)", async () => {
    const port = await closedPort();
    const attempt = connectRedisFleet({
      url: `redis://:hunter2@127.0.0.1:${port}/3`,
      tokenKey: TEST_TOKEN_KEY,
    });
    await expect(attempt).rejects.toThrow(RedisUnavailableError);
    await expect(attempt).rejects.toThrow(
      `cannot reach Redis at redis://:***@127.0.0.1:${port}/3 (ECONNREFUSED)`,
    );
  });

  it("hides credentials given as query parameters too", async () => {
    const port = await closedPort();
    const attempt = connectRedisFleet({
      url: `redis://127.0.0.1:${port}/3?password=hunter2&username=ops`,
      tokenKey: TEST_TOKEN_KEY,
    });
    const error: unknown = await attempt.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as Error).message).toContain(`redis://127.0.0.1:${port}/3?***`);
    expect((error as Error).message).not.toContain("hunter2");
  });
});

describe.skipIf(!reachable)("the Redis connector store", () => {
  it("keeps every registry rule and shows one process's change to another", async () => {
    const admin = await ConnectorRegistry.open((await member()).store, {
      role: "full-admin",
      allowLoopbackHttp: true,
    });
    const created = await admin.create(crm());
    await expect(admin.create(crm("crm"))).rejects.toMatchObject({ code: "name-taken" });
    await expect(admin.edit("CRM", { name: "Other" })).rejects.toMatchObject({ code: "edit-while-active" });
    await expect(admin.delete("CRM")).rejects.toMatchObject({ code: "delete-while-active" });

    const other = await ConnectorRegistry.open((await member()).store, { role: "full-admin" });
    expect(other.resolve("crm")).toMatchObject({ id: created.id, status: "active" });
    expect((other.resolve("crm") as { auth?: unknown }).auth).toMatchObject({
      clientSecret: "Sup3r-Secret-Client-Value",
    });
  });

  it("two admins racing on one connector: one wins, the other is refused and nothing is lost", async () => {
    const seed = await ConnectorRegistry.open((await member()).store, { role: "full-admin" });
    await seed.create(crm());
    await seed.deactivate("CRM");
    const first = await ConnectorRegistry.open((await member()).store, { role: "full-admin" });
    const second = await ConnectorRegistry.open((await member()).store, { role: "full-admin" });
    const outcomes = await Promise.allSettled([
      first.edit("CRM", { resourceDomainUrl: "https://first.example.com" }),
      second.edit("CRM", { auth: { scope: "second" } }),
    ]);
    const fulfilled = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const refused = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(fulfilled).toHaveLength(1);
    expect(refused).toHaveLength(1);
    const reason = (refused[0] as PromiseRejectedResult).reason as ConnectorError;
    expect(reason).toBeInstanceOf(ConnectorError);
    expect(reason.code).toBe("concurrent-change");
    expect(reason.message).toMatch(/someone else saved first; nothing was written/);
    const stored = (await (await member()).store.load()).document.connectors[0]!;
    const winnerWasFirst = outcomes[0]!.status === "fulfilled";
    expect(stored.resourceDomainUrl).toBe(
      winnerWasFirst ? "https://first.example.com" : "https://crm.example.com",
    );
    expect((stored as { auth: { scope?: string } }).auth.scope).toBe(winnerWasFirst ? undefined : "second");
  });

  it("stores plain secrets sealed: no secret, nor its base64, anywhere in Redis", async () => {
    const admin = await ConnectorRegistry.open((await member()).store, { role: "full-admin" });
    await admin.create(crm());
    await admin.create({
      name: "Survey",
      type: "webex-experience-management",
      username: "surveys@example.com",
      apiKey: "Wxm-Api-Key-Value-77",
    });
    await admin.create({
      name: "Basic",
      type: "custom",
      resourceDomainUrl: "https://basic.example.com",
      auth: { type: "basic", username: "ivr", password: "Basic-Password-Value-88" },
      proxy: { url: "http://proxy.corp.example:3128", username: "ivr", password: "Proxy-Password-Value-99" },
      tls: { cert: { file: "c.pem" }, key: { file: "c.key" }, passphrase: "Key-Passphrase-Value-66" },
    });
    await admin.create({
      name: "Weather",
      type: "api-key",
      resourceDomainUrl: "https://weather.example.com",
      apiKey: "Weather-Api-Key-Value-55",
    });
    const dump = [...(await dumpKeys(REDIS_URL, prefix))].join("\n");
    expect(dump).toContain("flows"); // the client id is not secret and stays readable
    for (const secret of [
      "Sup3r-Secret-Client-Value",
      "Wxm-Api-Key-Value-77",
      "Basic-Password-Value-88",
      "Proxy-Password-Value-99",
      "Key-Passphrase-Value-66",
      "Weather-Api-Key-Value-55",
    ])
      for (const form of secretForms(secret)) expect(dump).not.toContain(form);
    const reread = await ConnectorRegistry.open((await member()).store, { role: "full-admin" });
    expect((reread.resolve("Survey") as { apiKey?: unknown }).apiKey).toBe("Wxm-Api-Key-Value-77");
    expect((reread.resolve("Weather") as { apiKey?: unknown }).apiKey).toBe("Weather-Api-Key-Value-55");
  });

  it("import seeds an empty store, is refused on a non-empty one, and --replace replaces", async () => {
    const fleet = await member();
    const doc = (name: string) =>
      ({ connectors: [{ ...crm(name), id: `id-${name}`, status: "active" }] }) as never;
    expect(await fleet.store.importDocument(doc("A"))).toEqual({ imported: 1, replaced: 0 });
    await expect(fleet.store.importDocument(doc("B"))).rejects.toMatchObject({ code: "store-not-empty" });
    expect((await fleet.store.load()).document.connectors.map((c) => c.name)).toEqual(["A"]);
    expect(await fleet.store.importDocument(doc("B"), { replace: true })).toEqual({
      imported: 1,
      replaced: 1,
    });
    expect((await (await member()).store.load()).document.connectors.map((c) => c.name)).toEqual(["B"]);
  });

  it("watch tells a follower about another process's change", async () => {
    const follower = await member();
    const admin = await ConnectorRegistry.open((await member()).store, { role: "full-admin" });
    let calls = 0;
    const stop = follower.store.watch(() => calls++);
    await waitFor(() => calls >= 1); // the read right after subscribing
    const before = calls;
    await admin.create(crm());
    await waitFor(() => calls > before);
    stop();
  });

  it("a value sealed under another key does not open: a clear error naming the variable", async () => {
    const admin = await ConnectorRegistry.open((await member()).store, { role: "full-admin" });
    await admin.create(crm());
    const stranger = await fleetMember(prefix, REDIS_URL, Buffer.alloc(32, 9).toString("base64"));
    await expect(stranger.store.load()).rejects.toThrow(
      /does not open with FLOWRUN_TOKEN_KEY: it was written under another key/,
    );
  });
});
