import type { Dispatcher } from "undici";
import { builtinActivities } from "../activities/index.js";
import { ConnectorRegistry } from "../connectors/registry.js";
import { type RegistryResolver, registryResolver } from "../connectors/registry-resolver.js";
import type { ConnectorResolver } from "../connectors/seam.js";
import { type SharedTokenStore, TokenCache } from "../connectors/token-cache.js";
import { createHttpAgent, DEFAULT_MAX_RESPONSE_BYTES } from "../http/transport.js";
import type { ActivityDefinition } from "./activity.js";
import { compileFlow, type FlowPlan } from "./compiler.js";
import { FlowrunError, type Problem, ValidationError } from "./errors.js";
import type { CallHandlers } from "./host.js";
import { type RunOptions, runPlan } from "./interpreter.js";
import type { RunResult } from "./result.js";
import type { EngineServices } from "./services.js";

export interface EngineOptions {
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
   * Tokens shared by the processes of a fleet (`connectRedisFleet(...).tokens`): asked only when this engine's own
   * cache has no valid token, so one token request serves the fleet. Default: none (each engine fetches its own).
   */
  sharedTokens?: SharedTokenStore;
  /** Where `{ env }` and `{ file }` secrets of a registry's connectors are read. Default: process.env, cwd. */
  secrets?: { env?: Readonly<Record<string, string | undefined>>; baseDir?: string };
  /** Told about things worth a warning, such as a failed background token refresh. Default: none. */
  onWarning?: (message: string) => void;
  /** Accept plain `http://` base and request URLs for loopback hosts (127.0.0.0/8, ::1, localhost). */
  allowLoopbackHttp?: boolean;
  /** Pooled keep-alive connections per origin for the engine's own Agent (ignored with `dispatcher`). Default 128. */
  connectionsPerOrigin?: number;
  /** Extra trusted CA certificate(s), PEM, for the engine's own Agent (ignored with `dispatcher`). */
  ca?: string | Buffer;
  /** Response body cap in bytes; a larger body fails with `response-too-large`. Default 1 MiB. */
  maxResponseBytes?: number;
}

export interface CompileOptions {
  /** Where the document came from (a file name), for messages. */
  source?: string;
}

export interface CompiledFlow {
  readonly name: string;
  readonly description: string | undefined;
  /** Problems that do not stop the flow from running (unreachable activities). */
  readonly warnings: readonly Problem[];
  run(options?: RunOptions): Promise<RunResult>;
}

export interface Engine {
  /** Validates and compiles a flow document; throws a ValidationError listing every problem. */
  compile(document: unknown, options?: CompileOptions): CompiledFlow;
  /** Every problem in a flow document (errors and warnings), without throwing. */
  validate(document: unknown, options?: CompileOptions): Problem[];
  /** Releases pooled connections and timers. */
  close(): Promise<void>;
}

export function createEngine(options: EngineOptions = {}): Engine {
  const registry = new Map<string, ActivityDefinition>(
    builtinActivities.map((activity) => [activity.type, activity]),
  );
  if (
    options.maxResponseBytes !== undefined &&
    !(Number.isSafeInteger(options.maxResponseBytes) && options.maxResponseBytes > 0)
  )
    throw new FlowrunError("invalid-option", "maxResponseBytes must be a positive whole number of bytes");
  const ownAgent = options.dispatcher
    ? undefined
    : createHttpAgent({ ca: options.ca, connectionsPerOrigin: options.connectionsPerOrigin });
  // One token cache per engine; a registry is followed so that deactivation and edits drop tokens at once.
  const tokenCache = new TokenCache({ shared: options.sharedTokens });
  const followed: RegistryResolver | undefined =
    options.connectors instanceof ConnectorRegistry
      ? registryResolver(options.connectors, {
          tokenCache,
          env: options.secrets?.env,
          baseDir: options.secrets?.baseDir,
          onWarning: options.onWarning,
          allowLoopbackHttp: options.allowLoopbackHttp,
          sharedRefreshTokens: options.sharedTokens !== undefined,
        })
      : undefined;
  const services: EngineServices = {
    maxSteps: options.maxSteps ?? 1000,
    http: {
      dispatcher: options.dispatcher ?? ownAgent!,
      maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      allowLoopbackHttp: options.allowLoopbackHttp ?? false,
    },
    connectors: followed ?? (options.connectors as ConnectorResolver | undefined),
  };
  const defaultHandlers = options.handlers ?? {};

  const compile = (document: unknown, compileOptions: CompileOptions = {}): CompiledFlow => {
    const plan: FlowPlan = compileFlow(document, registry, services, compileOptions.source);
    return {
      name: plan.name,
      description: plan.description,
      warnings: plan.warnings,
      run: (runOptions = {}) => runPlan(plan, services, runOptions.handlers ?? defaultHandlers, runOptions),
    };
  };

  return {
    compile,
    validate(document, compileOptions) {
      try {
        return [...compile(document, compileOptions).warnings];
      } catch (error) {
        if (error instanceof ValidationError) return [...error.problems];
        throw error;
      }
    },
    async close() {
      followed?.close();
      await ownAgent?.close();
    },
  };
}
