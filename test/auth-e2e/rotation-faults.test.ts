import { afterEach, describe, expect, it } from "vitest";
import type { ConnectorInput } from "../../src/index.js";
import { webexConnector, writeConnectorsFile } from "../helpers/connectors.js";
import { type RotatingTokenServer, startRotatingTokenServer } from "../helpers/rotating-token-server.js";
import {
  connectorsDoc,
  engineFor,
  eventually,
  memoryRegistry,
  oneCallFlow,
  outputsOf,
  useApiServer,
} from "./harness.js";

/**
 * One process, no Redis: a token endpoint that rotates the refresh token on every use and refuses a spent one.
 * Faults while a refresh is on the wire must never cost the connector its only valid refresh token.
 */

const api = useApiServer();
let tokens: RotatingTokenServer | undefined;
afterEach(async () => {
  await tokens?.close();
  tokens = undefined;
});

const webex = (server: RotatingTokenServer): ConnectorInput =>
  webexConnector(server.url("/v1/access_token"), api.url);

describe("a rotating refresh token survives faults of its refresh", () => {
  it("a refresh answer slower than the activity timeout: the run times out, the answer is kept, the next run uses it", async () => {
    // Lifetime 0: every run needs a refresh, so every run shows which refresh token it sends.
    tokens = await startRotatingTokenServer({ lifetimeSeconds: 0 });
    const registry = memoryRegistry(connectorsDoc(webex(tokens)));
    const engine = engineFor(registry, { onWarning: () => {} });
    const flow = engine.compile(
      oneCallFlow({ connector: "Webex CC", requestPath: "/v1/queues", timeoutMs: 300 }),
    );
    try {
      tokens.fault({ delayMs: 1200 });
      const slow = await flow.run();
      expect(outputsOf(slow).statusCode).toBeNull();
      // The detached refresh finishes and its rotated refresh token is stored in the registry.
      await eventually(
        () => (registry.toDocument().connectors[0] as { refreshToken?: unknown }).refreshToken === "rt-2",
        5000,
      );
      for (let run = 0; run < 4; run++) expect(outputsOf(await flow.run()).statusCode).toBe(200);
    } finally {
      await engine.close();
    }
    expect(tokens.reuses).toEqual([]);
    expect(tokens.spent).toEqual(["rt-1", "rt-2", "rt-3", "rt-4", "rt-5"]);
  });

  it("a server that rotates and drops the connection: the refresh POST is not resent within the run", async () => {
    // The server's reuse interval (Okta, Auth0) honours the one later presentation of the token whose answer was lost.
    tokens = await startRotatingTokenServer({ lifetimeSeconds: 0, graceMs: 30_000 });
    const engine = engineFor(memoryRegistry(connectorsDoc(webex(tokens))), { onWarning: () => {} });
    const flow = engine.compile(
      oneCallFlow({ connector: "Webex CC", requestPath: "/v1/queues", timeoutMs: 5000 }),
    );
    try {
      tokens.fault({ dropAfterRotating: true });
      const dropped = await flow.run();
      expect(outputsOf(dropped).error?.kind).toBe("auth");
      expect(outputsOf(dropped).error?.message).toContain("may have been spent");
      // One POST, not the retry policy's three: the server may already have rotated the token.
      expect(tokens.requests).toHaveLength(1);
      for (let run = 0; run < 3; run++) expect(outputsOf(await flow.run()).statusCode).toBe(200);
    } finally {
      await engine.close();
    }
    expect(tokens.reuses).toEqual([]);
    expect(tokens.requests.map((request) => request.form.refresh_token)).toEqual([
      "rt-1",
      "rt-1",
      "rt-2",
      "rt-3",
    ]);
  });

  it("a refused refresh token backs off: later runs fail at once with refresh-backoff, not one request each", async () => {
    tokens = await startRotatingTokenServer({ lifetimeSeconds: 0 });
    const connector = { ...webex(tokens), refreshToken: "rt-revoked" } as ConnectorInput;
    const engine = engineFor(memoryRegistry(connectorsDoc(connector)), { onWarning: () => {} });
    const flow = engine.compile(oneCallFlow({ connector: "Webex CC", requestPath: "/v1/queues" }));
    try {
      const refused = outputsOf(await flow.run());
      expect(refused.error?.kind).toBe("auth");
      expect(refused.error?.message).toContain("invalid_grant");
      for (let run = 0; run < 5; run++) {
        const backedOff = outputsOf(await flow.run());
        expect(backedOff.error?.kind).toBe("auth");
        expect(backedOff.error?.message).toMatch(
          /refresh token was not sent.*refused it once.*next try in \d+ s/,
        );
      }
    } finally {
      await engine.close();
    }
    expect(tokens.requests).toHaveLength(1);
  });

  it("invalid_grant: the store is read again, and a newer generation another process stored is tried once", async () => {
    tokens = await startRotatingTokenServer({ lifetimeSeconds: 3600 });
    const onDisk = writeConnectorsFile(connectorsDoc(webex(tokens)));
    // Two processes on one connectors file; the second does not follow it, so it still holds rt-1.
    const open = () => onDisk.open({ follow: false });
    const [first, second] = [engineFor(await open()), engineFor(await open())];
    const call = oneCallFlow({ connector: "Webex CC", requestPath: "/v1/queues" });
    try {
      expect(outputsOf(await first.compile(call).run()).statusCode).toBe(200);
      expect(outputsOf(await second.compile(call).run()).statusCode).toBe(200);
    } finally {
      await first.close();
      await second.close();
      onDisk.remove();
    }
    // The stale process's rt-1 is refused once; it then adopts rt-2 (generation 1) from the file.
    expect(tokens.requests.map((request) => request.form.refresh_token)).toEqual(["rt-1", "rt-1", "rt-2"]);
  });
});
