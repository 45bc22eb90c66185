import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import {
  type ConnectorInput,
  ConnectorRegistry,
  type ConnectorsFile,
  createEngine,
  type Engine,
  type EngineOptions,
  type HttpTrace,
  httpTraceOf,
  MemoryConnectorStore,
  type RunResult,
} from "../../src/index.js";
import { httpFlow } from "../helpers/http-flows.js";
import {
  closeAllServers,
  type Handler,
  type LoopbackServer,
  type ReceivedRequest,
  startHttpServer,
} from "../helpers/servers.js";
import { startTokenServer, type TokenServer, tokenAnswer } from "../helpers/token-server.js";

/**
 * End-to-end harness: connectors documents, registries, engines that follow them, and flows with one or two
 * http-request activities whose outputs are copied into variables so tests can read them.
 */

/** A connectors document from connector inputs (defaults such as `status` filled in by the registry's parse). */
export function connectorsDoc(...connectors: ConnectorInput[]): ConnectorsFile {
  return { connectors: connectors as ConnectorsFile["connectors"] };
}

/** A registry over an in-memory store, loopback http allowed, acting as `full-admin`. */
export function memoryRegistry(document: ConnectorsFile): ConnectorRegistry {
  return new ConnectorRegistry(document, {
    allowLoopbackHttp: true,
    role: "full-admin",
    store: new MemoryConnectorStore(document, process.cwd(), { allowLoopbackHttp: true }),
  });
}

/** An engine following `registry`; close it in the test. */
export function engineFor(registry: ConnectorRegistry, options: Partial<EngineOptions> = {}): Engine {
  return createEngine({ connectors: registry, allowLoopbackHttp: true, secrets: { env: {} }, ...options });
}

/**
 * An engine (see `engineFor`) on `connectors` (a registry, or connectors put in a memory registry), lent to `use`
 * and closed after it, whatever `use` does.
 */
export async function withEngine<T>(
  connectors: ConnectorRegistry | ConnectorInput | readonly ConnectorInput[],
  options: Partial<EngineOptions>,
  use: (engine: Engine) => Promise<T>,
): Promise<T> {
  const registry =
    connectors instanceof ConnectorRegistry
      ? connectors
      : memoryRegistry(
          connectorsDoc(...(Array.isArray(connectors) ? connectors : [connectors as ConnectorInput])),
        );
  const engine = engineFor(registry, options);
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}

/** One http-request activity `call`; every outcome goes to `capture` (outputs into `out`), then `end`. */
/** A flow around one http-request activity `call` whose outputs land in the json variable `out`. */
export function oneCallFlow(activity: Record<string, unknown>): Record<string, unknown> {
  return httpFlow(activity);
}

/**
 * Two http-request activities `first` and `second` in a row. `first`'s outputs go to `firstOut`; `second`'s success
 * and error outcomes lead to different activities (`onSuccess`, `onError`), so a test can see which was taken.
 */
export function twoCallFlow(
  first: Record<string, unknown>,
  second: Record<string, unknown>,
): Record<string, unknown> {
  return {
    name: "e2e-two-calls",
    variables: { firstOut: { type: "json" }, secondOut: { type: "json" } },
    start: "first",
    activities: {
      first: {
        type: "http-request",
        ...first,
        next: { success: "keepFirst", error: "keepFirst", timeout: "keepFirst" },
      },
      keepFirst: {
        type: "set-variable",
        assignments: [{ variable: "firstOut", value: "{{ first }}" }],
        next: { default: "second" },
      },
      second: {
        type: "http-request",
        ...second,
        next: { success: "onSuccess", error: "onError", timeout: "onError" },
      },
      onSuccess: {
        type: "set-variable",
        assignments: [{ variable: "secondOut", value: "{{ second }}" }],
        next: { default: "end" },
      },
      onError: { type: "play-message", prompt: "sorry", next: { default: "end" } },
      end: { type: "end-flow" },
    },
  };
}

export interface CallOutputs {
  statusCode: number | null;
  body: string | null;
  json: unknown;
  error?: { kind: string; message: string };
}

export function outputsOf(result: RunResult, variable = "out"): CallOutputs {
  return result.variables[variable] as CallOutputs;
}

/** The `http` trace detail of an activity. */
export function httpTrace(result: RunResult, activity = "call"): HttpTrace {
  const entry = result.trace.find((candidate) => candidate.activity === activity);
  if (!entry) throw new Error(`no trace entry for ${activity}`);
  const http = httpTraceOf(entry);
  if (!http) throw new Error(`trace entry ${activity} has no http detail`);
  return http;
}

/** The bearer token of a request the API received (undefined when it had none). */
export function bearerOf(request: ReceivedRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith("Bearer ") ? header.slice("Bearer ".length) : undefined;
}

/** An API handler answering 200 JSON `{ ok: true, path }`. */
export const apiOk: Handler = (request, response) => {
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify({ ok: true, path: request.url }));
};

/** Answers `status` with a JSON body. */
export function answer(response: Parameters<Handler>[1], status: number, body: unknown): void {
  response.statusCode = status;
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify(body));
}

/**
 * Every way a secret could show up in a serialised result: the value itself, its base64 (Basic headers, tokens
 * re-encoded), its base64url and its URL-encoding. Returns the forms found in `text`.
 */
export function leakedSecrets(text: string, secrets: readonly string[]): string[] {
  const found: string[] = [];
  for (const secret of secrets) {
    const forms = new Set([
      secret,
      Buffer.from(secret, "utf8").toString("base64"),
      Buffer.from(secret, "utf8").toString("base64url"),
      encodeURIComponent(secret),
    ]);
    for (const form of forms) if (text.includes(form)) found.push(form);
  }
  return found;
}

/** Resolves when `predicate` holds, polling; rejects after `limitMs` (a bound, never an assertion on timing). */
export async function eventually(predicate: () => boolean, limitMs = 5000): Promise<void> {
  // performance.now, not Date.now: some tests move Date.now to age cached tokens.
  const until = performance.now() + limitMs;
  while (!predicate()) {
    if (performance.now() > until) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The API server of a test file: started once, its recordings cleared and its handler reset to `apiOk` before
 * each test, closed after the file. The returned handle always refers to that one server.
 */
export function useApiServer(): LoopbackServer {
  let current: LoopbackServer | undefined;
  beforeAll(async () => {
    current = await startHttpServer(apiOk);
  });
  afterAll(closeAllServers);
  beforeEach(() => {
    current!.received.length = 0;
    current!.handle(apiOk);
  });
  return new Proxy({} as LoopbackServer, { get: (_target, key) => Reflect.get(current!, key) });
}

/**
 * A fresh token endpoint for each test, issuing `token-<n>` for its n-th request, closed after the test. The
 * returned handle always refers to the current test's server.
 */
export function useTokenServer(): TokenServer {
  let current: TokenServer | undefined;
  beforeEach(async () => {
    current = await startTokenServer({
      fallback: () => tokenAnswer({ access_token: `token-${current!.requests.length}` }),
    });
  });
  afterEach(async () => {
    await current?.close();
  });
  return new Proxy({} as TokenServer, { get: (_target, key) => Reflect.get(current!, key) });
}

/** An OAuth client-credentials connector "CRM" on `api`, its token endpoint `tokens`, its secret in `CRM_SECRET`. */
export function oauthCrmConnector(
  api: LoopbackServer,
  tokens: TokenServer,
  fields: Record<string, unknown> = {},
): ConnectorInput {
  return {
    id: "c-crm",
    name: "CRM",
    type: "custom",
    resourceDomainUrl: api.url,
    auth: { type: "oauth2", clientId: "flows", clientSecret: { env: "CRM_SECRET" }, tokenUrl: tokens.url() },
    ...fields,
  } as ConnectorInput;
}
