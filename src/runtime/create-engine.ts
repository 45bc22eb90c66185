import type { Dispatcher } from "undici";
import { builtinActivities } from "../activities/index.js";
import type { ConnectorRegistry } from "../connectors/registry.js";
import {
  type RegistryResolver,
  type RegistryResolverOptions,
  registryResolver,
} from "../connectors/registry-resolver.js";
import { type SharedTokenStore, TokenCache } from "../connectors/token-cache.js";
import { type RetryClock, realClock } from "../core/budget.js";
import type { ConnectorResolver } from "../core/connector-seam.js";
import { FlowrunError } from "../core/errors.js";
import { type Limits, resolveLimits } from "../core/limits.js";
import { SecretScrubber } from "../core/scrubber.js";
import { createFlowEngine, type Engine } from "../engine/flow-engine.js";
import type { CallHandlers } from "../engine/host.js";
import { type DispatcherOptions, engineDispatchers } from "../http/dispatchers.js";
import { proxyEnvironment } from "../http/proxy.js";
import { DEFAULT_MAX_RESPONSE_BYTES } from "../http/sender.js";

export type { CompiledFlow, CompileOptions, Engine } from "../engine/flow-engine.js";

export interface EngineOptions
  extends Pick<
    DispatcherOptions,
    "egressAllow" | "egressPolicyForConnectors" | "egressLookup" | "interceptors"
  > {
  /** Maximum activities per run before it fails with reason `step-limit`. Default 1000. */
  maxSteps?: number;
  /** Default call-effect handlers for every run (a run may pass its own). */
  handlers?: CallHandlers;
  /**
   * Where HTTP requests go (API and token requests alike). Default: an undici Agent with keep-alive pools owned
   * by the engine and closed by `close()`. Pass a MockAgent for replay and tests; the engine does not close it.
   */
  dispatcher?: Dispatcher;
  /**
   * The connectors http-request activities name: a ConnectorRegistry (the engine follows its changes, reads
   * secrets and caches tokens) or any ConnectorResolver. Without one, such an activity halts the run.
   */
  connectors?: ConnectorRegistry | ConnectorResolver;
  /**
   * Where `{ env }` and `{ file }` secrets of a registry's connectors are read. Default: process.env and the
   * folder of the registry's connectors file (the working directory for a registry without a file).
   */
  secrets?: { env?: Readonly<Record<string, string | undefined>>; baseDir?: string };
  /**
   * Tokens shared by the processes of a fleet (`connectRedisFleet(...).tokens`): asked only when this engine's own
   * cache has no valid token, so one token request serves the fleet. Default: none (each engine fetches its own).
   */
  sharedTokens?: SharedTokenStore;
  /** Told about things worth a warning, such as a failed background token refresh. Default: none. */
  onWarning?: (message: string) => void;
  /** Accept plain `http://` base and request URLs for loopback hosts (127.0.0.0/8, ::1, localhost). */
  allowLoopbackHttp?: boolean;
  /** Pooled keep-alive connections per origin for the engine's own Agent (ignored with `dispatcher`). Default 128. */
  connectionsPerOrigin?: number;
  /**
   * Where HTTPS_PROXY, HTTP_PROXY and NO_PROXY (either case) are read for the engine's own connections. Default
   * process.env; `{}` sends everything direct. Ignored with `dispatcher`; a connector's own `proxy` wins.
   */
  proxyEnv?: Readonly<Record<string, string | undefined>>;
  /** Extra trusted CA certificate(s), PEM, for the engine's own Agent (ignored with `dispatcher`). */
  ca?: string | Buffer;
  /** Response body cap in bytes; a larger body fails with `response-too-large`. Default 1 MiB. */
  maxResponseBytes?: number;
  /**
   * The time retries of API calls wait in (Retry-After, backoff, the deadline check) and their jitter. Default:
   * real time. Tests pass a fake clock so that a retry does not wait in real time.
   */
  retryClock?: RetryClock;
  /**
   * Bounds on the work a flow's JSON paths, templates and values may cause in one run (docs/hardening.md); a limit
   * that is hit ends the activity with kind `limit-exceeded`. Default: DEFAULT_LIMITS.
   */
  limits?: Partial<Limits>;
}

/** How replay sees a registry's connectors: recorded statuses, placeholder secrets. Not part of the public API. */
export type ReplayConnectorRules = Pick<RegistryResolverOptions, "statusOverrides" | "secretFallback">;

/** A registry is told from a plain resolver by what it can do (it announces changes), not by its class. */
function isRegistry(connectors: ConnectorRegistry | ConnectorResolver): connectors is ConnectorRegistry {
  return typeof (connectors as Partial<ConnectorRegistry>).on === "function";
}

function checkedMaxResponseBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_RESPONSE_BYTES;
  if (!(Number.isSafeInteger(value) && value > 0))
    throw new FlowrunError("invalid-option", "maxResponseBytes must be a positive whole number of bytes");
  return value;
}

/**
 * The composition root: the one place where an engine is put together, for embedders (`createEngine`) and for
 * every command (run, record, test, run --replay). The engine itself sees only a ConnectorResolver.
 */
export function assembleEngine(options: EngineOptions, replayRules: ReplayConnectorRules = {}): Engine {
  const maxResponseBytes = checkedMaxResponseBytes(options.maxResponseBytes);
  const limits = resolveLimits(options.limits);
  const scrubber = new SecretScrubber();
  const dispatchers = engineDispatchers({
    ...options,
    proxyEnvironment: proxyEnvironment(options.proxyEnv ?? process.env),
  });
  // One token cache per engine; a registry is followed so that deactivation and edits drop tokens at once.
  const followed: RegistryResolver | undefined =
    options.connectors && isRegistry(options.connectors)
      ? registryResolver(options.connectors, {
          tokenCache: new TokenCache({ shared: options.sharedTokens }),
          env: options.secrets?.env,
          baseDir: options.secrets?.baseDir ?? options.connectors.baseDir,
          onWarning: options.onWarning,
          allowLoopbackHttp: options.allowLoopbackHttp,
          sharedRefreshTokens: options.sharedTokens !== undefined,
          // None with an injected dispatcher (replay, a host's own): a connector's proxy and certificate are then
          // neither read nor checked (replay holds no real certificate).
          connectorDispatcher: dispatchers.forConnector,
          onSecret: (value) => scrubber.add(value),
          ...replayRules,
        })
      : undefined;
  return createFlowEngine({
    activities: builtinActivities,
    services: {
      maxSteps: options.maxSteps ?? 1000,
      limits,
      scrubber,
      http: {
        dispatcher: dispatchers.connectors,
        flowUrlDispatcher: dispatchers.flowUrls,
        maxResponseBytes,
        allowLoopbackHttp: options.allowLoopbackHttp ?? false,
        retryClock: options.retryClock ?? realClock,
      },
      connectors: followed ?? (options.connectors as ConnectorResolver | undefined),
    },
    handlers: options.handlers ?? {},
    async close() {
      followed?.close();
      await dispatchers.close();
    },
  });
}

export function createEngine(options: EngineOptions = {}): Engine {
  return assembleEngine(options);
}
