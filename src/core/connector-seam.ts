import type { Dispatcher } from "undici";
import type { Budget } from "./budget.js";
import type { HttpMethod } from "./http-types.js";
import type { RunTelemetry } from "./telemetry.js";

/**
 * The seam between the http-request activity and connectors. The activity asks a ConnectorResolver for a
 * connector by name or id when it starts, and the connector authorises each request. The registry and the auth
 * strategies (src/connectors/) implement this; tests can implement it in a few lines.
 */
export type ConnectorStatus = "active" | "inactive";

export interface AuthorizeRequest {
  /** The shared request path: token endpoints are called through the same dispatcher as the API. */
  readonly dispatcher: Dispatcher;
  /**
   * The activity's time budget: its deadline (token retries must finish before it), the clock waits sleep on, and
   * a signal that fires at the deadline or when the run is aborted (made only when read).
   */
  readonly budget: Budget;
  /** The run's telemetry: a token request becomes a `flowrun.token.fetch` span in the run's trace. */
  readonly telemetry?: RunTelemetry;
}

/** Credentials sent as they are with every request, by how the trace names them. */
export type FixedCredentials = "basic" | "key";

export interface Authorization {
  /** Headers to add (e.g. `authorization`); their values are secrets and are redacted in every trace. */
  readonly headers: Readonly<Record<string, string>>;
  /** A base URL learnt while authorising (Salesforce's `instance_url`); replaces the connector's base URL. */
  readonly baseUrl?: string;
  /** Whether this call fetched a token from the token endpoint (false when served from the cache). */
  readonly tokenFetched: boolean;
  /**
   * Set when the headers carry fixed credentials and no token was involved: `basic` (Basic auth) or `key` (a
   * key in a header). Absent for a token.
   */
  readonly fixedCredentials?: FixedCredentials;
  /** The connector's own dispatcher (its proxy, client certificate) for the API call; default the engine's. */
  readonly dispatcher?: Dispatcher;
  /** Things worth telling the person reading the run's trace (a token answer taken as Bearer without token_type). */
  readonly notes?: readonly string[];
  /** Drops this credential from the cache so the next `authorize` fetches a new one (reactive refresh). */
  invalidate(): void;
}

export interface ConnectorHandle {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly status: ConnectorStatus;
  /** The base URL requests are built on, when known before authorising. */
  readonly baseUrl: string | undefined;
  /** Methods this connector allows (read-only Webex Contact Center: GET, HEAD, OPTIONS); undefined = all. */
  readonly allowedMethods: readonly HttpMethod[] | undefined;
  /** Send W3C `traceparent` (and `tracestate`) with this connector's requests; default false. */
  readonly propagateTraceContext?: boolean;
  /** Whether a response means the token expired (`tokenExpiredStatuses`, `tokenExpiredWhen`). */
  tokenExpired(response: { status: number; json: unknown }): boolean;
  authorize(request: AuthorizeRequest): Promise<Authorization>;
}

export interface ConnectorResolver {
  /** The connector named `nameOrId` (names case-insensitive) as it is now; undefined when unknown or deleted. */
  resolve(nameOrId: string): ConnectorHandle | undefined;
  /**
   * Whether the connectors file defines `nameOrId`, for the compile-time check; default `resolve() !== undefined`.
   * Differs from `resolve` where a run sees a connector as deleted that the file still has (replay's
   * `connectorStatus`).
   */
  defines?(nameOrId: string): boolean;
  /** The names a flow may use, for "did you mean" when a name is unknown. */
  names?(): readonly string[];
}
