import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import {
  ConnectorRegistry,
  type ConnectorRegistryOptions,
  type ConnectorsFile,
  connectRedisFleet,
  createEngine,
  type Engine,
  type EngineOptions,
  type RedisFleet,
  type RedisFleetOptions,
} from "../../src/index.js";

/** The Redis the machine (and CI) runs; tests use their own key prefix on it and clean up. */
export const REDIS_URL = process.env.FLOWRUN_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A valid fleet token key for tests. */
export const TEST_TOKEN_KEY = Buffer.alloc(32, 7).toString("base64");

/**
 * Whether the shared Redis answers. With CI=true it must: a missing Redis fails the run instead of silently
 * skipping. Elsewhere (a laptop) the Redis tests are skipped with one line saying why.
 */
export async function redisReachable(file: string): Promise<boolean> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 500,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch (error) {
    if (process.env.CI === "true")
      throw new Error(
        `CI=true but no Redis answers at ${REDIS_URL} (${(error as Error).message}); the Redis tests must run in CI`,
      );
    console.warn(`skipping ${file}: no Redis answers at ${REDIS_URL} (set CI=true to make this a failure)`);
    return false;
  } finally {
    probe.disconnect();
  }
}

/** A key prefix no other test (or process) uses. */
export function uniquePrefix(label: string): string {
  return `flowrun-test:${label}:${process.pid}:${randomBytes(4).toString("hex")}:`;
}

/** Deletes every key under `prefix`. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
      if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
    }
  } catch {
    // The Redis of a fault test may be gone already.
  } finally {
    redis.disconnect();
  }
}

/** Every key under `prefix` with its content as text (strings, hashes, sets), for secret scans. */
export async function dumpKeys(url: string, prefix: string): Promise<Map<string, string>> {
  const redis = new Redis(url);
  const dump = new Map<string, string>();
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
      for (const key of keys as string[]) {
        const type = await redis.type(key);
        if (type === "string") dump.set(key, (await redis.get(key)) ?? "");
        else if (type === "hash") dump.set(key, JSON.stringify(await redis.hgetall(key)));
        else if (type === "set") dump.set(key, JSON.stringify(await redis.smembers(key)));
        else dump.set(key, `(${type})`);
      }
    }
    return dump;
  } finally {
    redis.disconnect();
  }
}

/** A secret as it could leak: as is, base64, base64url. */
export function secretForms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString("base64"), Buffer.from(secret).toString("base64url")];
}

export async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A TCP proxy in front of a Redis: `cut()` drops every connection and refuses new ones (Redis itself keeps its data
 * and goes on serving others), `restore()` accepts again. Simulates a network partition of one process.
 */
export interface RedisProxy {
  readonly url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function redisProxy(target: string): Promise<RedisProxy> {
  const { hostname, port } = new URL(target);
  const { createConnection, createServer: createTcpServer } = await import("node:net");
  const pairs = new Set<import("node:net").Socket>();
  let open = true;
  const server = createTcpServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: hostname, port: Number(port) });
    for (const socket of [client, upstream]) {
      pairs.add(socket);
      socket.on("close", () => pairs.delete(socket));
      socket.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port: own } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${own}`,
    cut() {
      open = false;
      for (const socket of pairs) socket.destroy();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of pairs) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const openFleets: RedisFleet[] = [];

/** A fleet member with connections of its own, as another process would have; `closeFleets` closes them all. */
export async function fleetMember(
  prefix: string | undefined,
  url = REDIS_URL,
  tokenKey = TEST_TOKEN_KEY,
  options: Partial<RedisFleetOptions> = {},
): Promise<RedisFleet> {
  const fleet = await connectRedisFleet({
    url,
    keyPrefix: prefix,
    tokenKey,
    allowLoopbackHttp: true,
    ...options,
  });
  openFleets.push(fleet);
  return fleet;
}

/** A fleet member that has imported `document` into the fleet's empty store (an admin seeding the fleet). */
export async function seededFleet(
  document: ConnectorsFile,
  prefix: string | undefined,
  url = REDIS_URL,
): Promise<RedisFleet> {
  const fleet = await fleetMember(prefix, url);
  await fleet.store.importDocument(document);
  return fleet;
}

/** An engine in `fleet`, as a process of the fleet runs one: its registry on the fleet's store, tokens shared. */
export interface FleetEngine {
  readonly fleet: RedisFleet;
  readonly registry: ConnectorRegistry;
  readonly engine: Engine;
  /** Closes the engine and the registry (the fleet is closed by `closeFleets`). */
  close(): Promise<void>;
}

export async function fleetEngine(
  fleet: RedisFleet,
  options: { registry?: ConnectorRegistryOptions; engine?: Partial<EngineOptions> } = {},
): Promise<FleetEngine> {
  const registry = await ConnectorRegistry.open(fleet.store, {
    allowLoopbackHttp: true,
    ...options.registry,
  });
  const engine = createEngine({
    connectors: registry,
    sharedTokens: fleet.tokens,
    allowLoopbackHttp: true,
    ...options.engine,
  });
  return {
    fleet,
    registry,
    engine,
    close: async () => {
      await engine.close();
      await registry.close();
    },
  };
}

export async function closeFleets(): Promise<void> {
  await Promise.all(openFleets.splice(0).map((fleet) => fleet.close()));
}
