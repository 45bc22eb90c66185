import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBasicAuthValidator } from "../../src/connectors/connectivity.js";
import type { Connector } from "../../src/connectors/schema.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";

let server: LoopbackServer;
beforeAll(async () => {
  server = await startHttpServer();
});
afterAll(closeAllServers);

const PASSWORD = "validation-pass-7";

function basicConnector(path: string): Connector {
  return {
    id: "c1",
    name: "Billing",
    type: "custom",
    status: "active",
    baseUrl: server.url,
    auth: { type: "basic", username: "flows", password: PASSWORD, validationUrl: `${server.url}${path}` },
  } as unknown as Connector;
}

const validator = (timeoutMs?: number) =>
  createBasicAuthValidator({ env: {}, baseDir: "/", allowLoopbackHttp: true, timeoutMs });

describe("basic-auth connectivity check (through the one sender)", () => {
  it("a 2xx is ok; the credentials were sent", async () => {
    server.handle((_request, response) => {
      response.end("pong");
    });
    const result = await validator()(basicConnector("/ok"));
    expect(result).toEqual({ status: "ok", message: `GET ${server.url}/ok answered 200` });
    const sent = server.received.at(-1)!.headers.authorization;
    expect(sent).toBe(`Basic ${Buffer.from(`flows:${PASSWORD}`).toString("base64")}`);
  });

  it("a refusal quotes the answer without the credentials", async () => {
    server.handle((request, response) => {
      response.statusCode = 401;
      response.end(`bad credentials: ${request.headers.authorization} (${PASSWORD})`);
    });
    const result = await validator()(basicConnector("/refuse"));
    expect(result.status).toBe("failed");
    expect(result.message).toContain("answered 401: bad credentials: [REDACTED] ([REDACTED])");
    expect(result.message).not.toContain(PASSWORD);
    expect(result.message).not.toContain(Buffer.from(`flows:${PASSWORD}`).toString("base64"));
  });

  it("a server that never answers fails at the deadline instead of hanging", async () => {
    server.handle(() => {});
    const result = await validator(150)(basicConnector("/hang"));
    expect(result.status).toBe("failed");
    expect(result.message).toContain("failed: timeout");
  });

  it("an endless answer is cut at the body cap", async () => {
    server.handle((_request, response) => {
      response.statusCode = 500;
      response.write("x".repeat(200 * 1024));
      response.end();
    });
    const result = await validator()(basicConnector("/huge"));
    expect(result.status).toBe("failed");
    expect(result.message).toContain("failed: response-too-large");
  });
});
