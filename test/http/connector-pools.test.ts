import { type Agent, MockAgent } from "undici";
import { describe, expect, it } from "vitest";
import { engineDispatchers } from "../../src/http/dispatchers.js";

// A connector with its own proxy or certificate gets connections of its own: built once per distinct settings
// (never per request or per run) and closed with the engine.
describe("per-connector connection pools", () => {
  const viaProxy = { proxy: { url: "http://127.0.0.1:3128" } };
  const otherProxy = { proxy: { url: "http://127.0.0.1:3129" } };

  it("the same settings share one pool; other settings get another; close() closes them all", async () => {
    const dispatchers = engineDispatchers({});
    const first = dispatchers.forConnector?.(viaProxy);
    expect(first).toBeDefined();
    expect(dispatchers.forConnector?.({ proxy: { url: "http://127.0.0.1:3128" } })).toBe(first);
    const second = dispatchers.forConnector?.(otherProxy);
    expect(second).not.toBe(first);
    expect(second).not.toBe(dispatchers.connectors);
    await dispatchers.close();
    expect((first as Agent).closed).toBe(true);
    expect((second as Agent).closed).toBe(true);
  });

  it("with an injected dispatcher the host owns every connection: no per-connector pool", async () => {
    const dispatchers = engineDispatchers({ dispatcher: new MockAgent() });
    expect(dispatchers.forConnector).toBeUndefined();
    await dispatchers.close();
  });
});
