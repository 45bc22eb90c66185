// The outage round of `npm run bench:fleet`: member processes on a redis-server of the round's own (started on a
// free port, never the shared one, killed at the end), a Webex-style connector whose loopback token endpoint rotates
// the refresh token at every use and refuses a spent one. Redis is stopped for OUTAGE_MS while refreshes fall due,
// then restarted without its data. Counts, per member, the runs completed within two token lifetimes (plus the
// settle window) after the restart, and at the server the refresh requests, refusals and reuses of a spent token.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";

const LIFETIME_SECONDS = 2;
const OUTAGE_MS = 4000;
const SETTLE_MS = 2500;

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

/** Token endpoint + API on one loopback port: `/token` rotates `rt-<n>`, anything else answers 200. */
async function rotatingServer() {
  const counts = { refreshes: 0, refused: 0, reuses: 0 };
  const retired = new Set();
  let generation = 1;
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      response.setHeader("content-type", "application/json");
      if (request.url !== "/token") return response.end('{"ok":true}');
      counts.refreshes++;
      const presented = new URLSearchParams(body).get("refresh_token");
      if (presented !== `rt-${generation}`) {
        counts.refused++;
        if (retired.has(presented)) counts.reuses++;
        response.statusCode = 400;
        return response.end('{"error":"invalid_grant"}');
      }
      retired.add(presented);
      generation++;
      response.end(
        JSON.stringify({
          access_token: `access-${generation}`,
          token_type: "Bearer",
          expires_in: LIFETIME_SECONDS,
          refresh_token: `rt-${generation}`,
        }),
      );
    });
  });
  const port = await listen(server);
  return { origin: `http://127.0.0.1:${port}`, counts, close: () => server.close() };
}

async function freePort() {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A redis-server without persistence; `stop()` kills it, `start()` starts it again (empty). */
async function ownRedis(Redis) {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child;
  const start = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", ""], {
      stdio: "ignore",
    });
    for (let attempt = 0; attempt < 250; attempt++) {
      const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
      probe.on("error", () => {});
      try {
        await probe.connect();
        await probe.ping();
        return;
      } catch {
        await sleep(20);
      } finally {
        probe.disconnect();
      }
    }
    throw new Error(`redis-server on port ${port} did not start`);
  };
  const stop = () =>
    new Promise((resolve) => {
      if (!child || child.exitCode !== null) return resolve();
      child.once("exit", resolve);
      child.kill("SIGKILL");
    });
  await start();
  return { url, start, stop };
}

/**
 * `member(config)` starts a fleet member process (bench/fleet.js's helper); `connectRedisFleet` and `Redis` come
 * from the caller so that this round uses the same build.
 */
export async function outageRound({ member, connectRedisFleet, Redis, members = 2 }) {
  const server = await rotatingServer();
  const redis = await ownRedis(Redis);
  const admin = await connectRedisFleet({ url: redis.url, allowLoopbackHttp: true });
  await admin.store.importDocument({
    connectors: [
      {
        id: "wxcc-bench",
        name: "Webex CC",
        type: "webex-contact-center",
        status: "active",
        access: "read-write",
        clientId: "bench",
        clientSecret: "bench-secret",
        refreshToken: "rt-1",
        tokenUrl: `${server.origin}/token`,
        resourceDomainUrl: server.origin,
      },
    ],
  });
  await admin.close();
  const flow = {
    name: "outage",
    variables: { out: { type: "json" } },
    start: "call",
    activities: {
      call: {
        type: "http-request",
        connector: "Webex CC",
        requestPath: "/queues",
        timeoutMs: 1000,
        next: { success: "keep", error: "keep", timeout: "keep" },
      },
      keep: {
        type: "set-variable",
        assignments: [{ variable: "out", value: "{{ call }}" }],
        next: { default: "end" },
      },
      end: { type: "end-flow" },
    },
  };
  const ok = (event) => event.event === "result" && event.out?.statusCode === 200;
  const group = Array.from({ length: members }, () =>
    member({ redis: { url: redis.url, prefix: "flowrun:" }, flow, mode: "loop", pauseMs: 50 }),
  );
  try {
    await Promise.all(group.map((m) => m.next(ok)));
    await redis.stop();
    await sleep(OUTAGE_MS);
    const restartedAt = Date.now();
    await redis.start();
    await sleep(2 * LIFETIME_SECONDS * 1000 + SETTLE_MS);
    const windowEnd = Date.now();
    for (const m of group) m.send("stop");
    await Promise.all(group.map((m) => m.exited));
    const completedAfter = group.map(
      (m) => m.events.filter((e) => ok(e) && e.at >= restartedAt && e.at <= windowEnd).length,
    );
    return {
      members,
      outageMs: OUTAGE_MS,
      tokenLifetimeSeconds: LIFETIME_SECONDS,
      completedAfterRestartPerMember: completedAfter,
      refreshRequests: server.counts.refreshes,
      refusedRefreshes: server.counts.refused,
      spentTokenReuses: server.counts.reuses,
    };
  } finally {
    for (const m of group) m.child.kill("SIGKILL");
    await redis.stop();
    server.close();
  }
}
