import { Agent } from "undici";
import { afterAll, afterEach } from "vitest";
import { startTokenServer, type TokenServer, type TokenServerOptions } from "./token-server.js";

export interface AuthLifecycle {
  /** The test file's dispatcher for token calls: opened with the file, closed after its last test. */
  readonly agent: Agent;
  /** Starts a loopback token endpoint for the current test; it is closed after that test. */
  startServer(options?: TokenServerOptions): Promise<TokenServer>;
}

/** The agent and token-server lifecycle of a test file that makes token calls. Call it at the file's top level. */
export function useAuthLifecycle(): AuthLifecycle {
  const agent = new Agent();
  const started: TokenServer[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((server) => server.close()));
  });
  afterAll(async () => {
    await agent.close();
  });
  return {
    agent,
    startServer: async (options) => {
      const server = await startTokenServer(options);
      started.push(server);
      return server;
    },
  };
}
