import { afterEach, describe, expect, it } from "vitest";
import type { ConnectorInput } from "../../src/index.js";
import { startTokenServer, type TokenServer } from "../helpers/token-server.js";
import { bearerOf, httpTrace, oneCallFlow, useApiServer, withEngine } from "./harness.js";

/** A token answer without token_type: taken as Bearer with a note in the trace, unless the connector is strict. */

const api = useApiServer();
let tokens: TokenServer;
afterEach(async () => {
  await tokens?.close();
});

function crm(strictTokenType?: boolean): ConnectorInput {
  return {
    id: "c-tt",
    name: "CRM",
    type: "custom",
    resourceDomainUrl: api.url,
    ...(strictTokenType === undefined ? {} : { strictTokenType }),
    auth: { type: "oauth2", clientId: "flows", clientSecret: { env: "S" }, tokenUrl: tokens.url() },
  } as ConnectorInput;
}

async function runWith(connector: ConnectorInput, calls = 1) {
  return withEngine(connector, { secrets: { env: { S: "s3cret" } } }, async (engine) => {
    const results = [];
    for (let index = 0; index < calls; index++)
      results.push(await engine.compile(oneCallFlow({ connector: "CRM", requestPath: "/v1/items" })).run());
    return results;
  });
}

describe("token_type leniency", () => {
  it("an answer without token_type is used as Bearer and the fetching run's trace notes it", async () => {
    tokens = await startTokenServer({ fallback: { json: { access_token: "no-type", expires_in: 3600 } } });
    const [first, second] = await runWith(crm(), 2);
    expect(first?.status).toBe("completed");
    expect(api.received.map(bearerOf)).toEqual(["no-type", "no-type"]);
    expect(httpTrace(first!).notes).toEqual(["token answer had no token_type, taken as Bearer"]);
    // The cached token was not fetched by the second run: nothing to note there.
    expect(httpTrace(second!).notes).toBeUndefined();
  });

  it("strictTokenType: true refuses the same answer (kind auth), and the API is never called", async () => {
    tokens = await startTokenServer({ fallback: { json: { access_token: "no-type", expires_in: 3600 } } });
    const [result] = await runWith(crm(true));
    expect(result?.status).toBe("completed");
    const entry = result!.trace.find((step) => step.activity === "call");
    expect(entry?.error).toMatchObject({
      kind: "auth",
      message: expect.stringContaining("without a token_type"),
    });
    expect(api.received).toHaveLength(0);
  });

  it("a token_type other than Bearer is refused whatever the setting", async () => {
    tokens = await startTokenServer({ fallback: { json: { access_token: "mac", token_type: "MAC" } } });
    const [result] = await runWith(crm());
    const entry = result!.trace.find((step) => step.activity === "call");
    expect(entry?.error).toMatchObject({ kind: "auth", message: expect.stringContaining("only Bearer") });
    expect(api.received).toHaveLength(0);
  });
});
