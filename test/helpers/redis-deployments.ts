import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import type { TestCertificates } from "./certificates.js";
import { BASE_ARGS, redisTempDir, spawnRedisServer, startPlainRedis, waitForPing } from "./redis-server.js";
import { closedPort } from "./token-server.js";

/**
 * Redis deployments of the tests' own, on free loopback ports, without persistence: a Redis Cluster, a Sentinel
 * group, a TLS Redis. `stopRedisServers` (redis-server.ts) kills
 * every server started here.
 */

/** Three masters, no replicas, every slot covered; the ports of the nodes. */
/** `password`: every node requires it (`requirepass`), as a protected production cluster does. */
export async function startCluster(options: { password?: string } = {}): Promise<number[]> {
  const auth =
    options.password === undefined
      ? []
      : ["--requirepass", options.password, "--masterauth", options.password];
  const cliAuth = options.password === undefined ? [] : ["-a", options.password, "--no-auth-warning"];
  const dir = redisTempDir();
  const ports: number[] = [];
  for (let n = 0; n < 3; n++) {
    const port = await closedPort();
    const busPort = await closedPort();
    ports.push(port);
    spawnRedisServer(
      [
        "--port",
        String(port),
        "--cluster-port",
        String(busPort),
        ...BASE_ARGS,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--cluster-node-timeout",
        "2000",
        ...auth,
      ],
      dir,
    );
  }
  for (const port of ports) await waitForPing(port, { password: options.password });
  execFileSync(
    "redis-cli",
    [
      ...cliAuth,
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ],
    { stdio: "pipe", timeout: 30_000 },
  );
  const deadline = Date.now() + 20_000;
  for (const port of ports) {
    for (;;) {
      const info = execFileSync("redis-cli", [...cliAuth, "-p", String(port), "cluster", "info"], {
        encoding: "utf8",
      });
      if (info.includes("cluster_state:ok")) break;
      if (Date.now() > deadline) throw new Error(`cluster node ${port} did not reach cluster_state:ok`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return ports;
}

export interface SentinelGroup {
  readonly name: string;
  readonly sentinelPort: number;
  readonly masterPort: number;
  readonly replicaPort: number;
  /** The port of the master the Sentinel names now. */
  currentMasterPort(): Promise<number>;
  /** Whether the server at `port` is a replica with its link to its primary up. */
  isReplica(port: number): Promise<boolean>;
  /** Asks the Sentinel to fail over, again while it answers NOGOODSLAVE (its view of the replica lags). */
  failover(): Promise<void>;
}

/** A master, one replica and one Sentinel watching them (quorum 1). */
export async function startSentinelGroup(): Promise<SentinelGroup> {
  const name = "flowrun-test";
  const masterPort = await startPlainRedis(["--repl-diskless-sync-delay", "0"]);
  const replicaPort = await startPlainRedis(["--replicaof", "127.0.0.1", String(masterPort)]);
  const linkDeadline = Date.now() + 20_000;
  while (
    !execFileSync("redis-cli", ["-p", String(replicaPort), "info", "replication"], {
      encoding: "utf8",
    }).includes("master_link_status:up")
  ) {
    if (Date.now() > linkDeadline) throw new Error("the replica did not sync with the master");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const sentinelPort = await closedPort();
  const dir = redisTempDir();
  const config = path.join(dir, "sentinel.conf");
  writeFileSync(
    config,
    [
      `port ${sentinelPort}`,
      "bind 127.0.0.1",
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 2000`,
      `sentinel failover-timeout ${name} 5000`,
      "",
    ].join("\n"),
  );
  spawnRedisServer([config, "--sentinel"], dir);
  await waitForPing(sentinelPort);
  const currentMasterPort = async () => {
    const sentinel = new Redis({ host: "127.0.0.1", port: sentinelPort });
    try {
      const [, port] = (await sentinel.call("SENTINEL", "get-master-addr-by-name", name)) as [string, string];
      return Number(port);
    } finally {
      sentinel.disconnect();
    }
  };
  // The Sentinel must have found the replica, be connected to it and see its link to the master up before a
  // failover can promote it (otherwise: NOGOODSLAVE).
  const deadline = Date.now() + 20_000;
  while (!(await sentinelSeesHealthyReplica(sentinelPort, name))) {
    if (Date.now() > deadline) throw new Error("the Sentinel did not discover the replica");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const failover = async () => {
    const sentinel = new Redis({ host: "127.0.0.1", port: sentinelPort });
    const failoverDeadline = Date.now() + 20_000;
    try {
      for (;;) {
        try {
          await sentinel.call("SENTINEL", "FAILOVER", name);
          return;
        } catch (error) {
          // The Sentinel refreshes what it knows of the replica once a second at best: ask again until it agrees.
          if (!String(error).includes("NOGOODSLAVE") || Date.now() > failoverDeadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    } finally {
      sentinel.disconnect();
    }
  };
  const isReplica = async (port: number) => {
    const info = execFileSync("redis-cli", ["-p", String(port), "info", "replication"], { encoding: "utf8" });
    return info.includes("role:slave") && info.includes("master_link_status:up");
  };
  return { name, sentinelPort, masterPort, replicaPort, currentMasterPort, isReplica, failover };
}

/** Whether the Sentinel lists a replica it is connected to (flags exactly "slave") whose master link is ok. */
async function sentinelSeesHealthyReplica(sentinelPort: number, name: string): Promise<boolean> {
  const sentinel = new Redis({ host: "127.0.0.1", port: sentinelPort });
  try {
    const replicas = (await sentinel.call("SENTINEL", "replicas", name)) as string[][];
    return replicas.some((fields) => {
      const field = (key: string) => fields[fields.indexOf(key) + 1];
      return field("flags") === "slave" && field("master-link-status") === "ok";
    });
  } finally {
    sentinel.disconnect();
  }
}

/** A Redis answering only TLS, with a certificate for 127.0.0.1 signed by `tls.ca`; its TLS port. */
export async function startTlsRedis(tls: TestCertificates): Promise<number> {
  const dir = redisTempDir();
  const file = (name: string, content: string) => {
    writeFileSync(path.join(dir, name), content);
    return path.join(dir, name);
  };
  const port = await closedPort();
  spawnRedisServer(
    [
      "--port",
      "0",
      "--tls-port",
      String(port),
      ...BASE_ARGS,
      "--tls-cert-file",
      file("redis.crt", tls.cert),
      "--tls-key-file",
      file("redis.key", tls.key),
      "--tls-ca-cert-file",
      file("ca.pem", tls.ca),
      "--tls-auth-clients",
      "no",
    ],
    dir,
  );
  await waitForPing(port, { tls: { ca: tls.ca } });
  return port;
}
