import type {
  Authorization,
  AuthorizeRequest,
  ConnectorHandle,
  ConnectorResolver,
  ConnectorStatus,
} from "../../src/core/connector-seam.js";
import type { HttpMethod } from "../../src/core/http-types.js";

/** A connector for tests: basic auth by default, or any authorisation the test supplies. */
export interface TestConnectorOptions {
  name: string;
  baseUrl?: string;
  status?: ConnectorStatus;
  username?: string;
  password?: string;
  allowedMethods?: HttpMethod[];
  /** Statuses meaning "token expired" (reactive refresh); default none. */
  tokenExpiredStatuses?: number[];
  /** Replaces basic auth: called on every authorize with the number of the call (1, 2, ...). */
  authorize?: (call: number, request: AuthorizeRequest) => Promise<Partial<Authorization>>;
}

export interface TestConnector extends ConnectorHandle {
  status: ConnectorStatus;
  /** How often authorize and invalidate were called. */
  readonly calls: { authorize: number; invalidate: number };
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

export function testConnector(options: TestConnectorOptions): TestConnector {
  const calls = { authorize: 0, invalidate: 0 };
  const connector: TestConnector = {
    id: `id-${options.name.toLowerCase()}`,
    name: options.name,
    type: "custom",
    status: options.status ?? "active",
    baseUrl: options.baseUrl,
    allowedMethods: options.allowedMethods,
    calls,
    tokenExpired: (response) => options.tokenExpiredStatuses?.includes(response.status) ?? false,
    async authorize(request) {
      calls.authorize++;
      const custom = options.authorize ? await options.authorize(calls.authorize, request) : {};
      return {
        headers: custom.headers ?? {
          authorization: basicHeader(options.username ?? "flows", options.password ?? "s3cret-Pa55word"),
        },
        baseUrl: custom.baseUrl,
        tokenFetched: custom.tokenFetched ?? calls.authorize === 1,
        invalidate: () => {
          calls.invalidate++;
        },
      };
    },
  };
  return connector;
}

/** A resolver over a mutable list, so tests can delete or deactivate a connector after compiling a flow. */
export class TestConnectorResolver implements ConnectorResolver {
  readonly connectors = new Map<string, TestConnector>();
  constructor(connectors: TestConnector[] = []) {
    for (const connector of connectors) this.add(connector);
  }
  add(connector: TestConnector): TestConnector {
    this.connectors.set(connector.name.toLowerCase(), connector);
    return connector;
  }
  remove(name: string): void {
    this.connectors.delete(name.toLowerCase());
  }
  resolve(nameOrId: string): ConnectorHandle | undefined {
    const byName = this.connectors.get(nameOrId.toLowerCase());
    if (byName) return byName;
    return [...this.connectors.values()].find((connector) => connector.id === nameOrId);
  }
}
