import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { ConnectorFileStore } from "../connectors/file-store.js";
import type { RedisFleet } from "../connectors/redis/fleet.js";
import { TokenKeyError } from "../connectors/redis/sealing.js";
import { ConnectorRegistry } from "../connectors/registry.js";
import { resolveSecret, secretFields } from "../connectors/secrets.js";
import { FlowrunError } from "../core/errors.js";
import type { RunOptions } from "../engine/interpreter.js";
import { httpTraceOf, type RunResult } from "../engine/result.js";
import { learnInputSecrets } from "../replay/recorder.js";
import type { CompiledFlow, Engine, EngineOptions } from "../runtime/create-engine.js";
import { EXIT, UsageError } from "./io.js";
import type { CliContext } from "./main.js";
import {
  collectEgressAllow,
  collectList,
  collectPairs,
  EGRESS_ALLOW_HELP,
  positiveInteger,
} from "./options.js";
import { openFleet, REDIS_OPTION_HELP, redisUrlFrom } from "./redis-options.js";

/** The options `run` and `record` share. */
export interface RunCliOptions {
  connectors?: string;
  redis?: string;
  var?: Record<string, string>;
  contact?: Record<string, string>;
  menuInput?: string[];
  json?: boolean;
  deadlineMs?: string;
  maxSteps?: string;
  allowLoopbackHttp?: boolean;
  egressAllow?: string[];
  ca?: string;
}

export function addRunOptions(command: Command): Command {
  return command
    .option("--connectors <file>", "connectors file the flow's http-request activities use")
    .option("--redis <url>", REDIS_OPTION_HELP)
    .option("--var <name=value>", "set a flow variable (repeatable)", collectPairs("--var"))
    .option(
      "--contact <key=value>",
      "set a contact field: ani, dnis, id, channel, ... (repeatable)",
      collectPairs("--contact"),
    )
    .option(
      "--menu-input <digits>",
      "answer the next menu with these digits (repeatable, in order)",
      collectList,
    )
    .option("--json", "print the run result as JSON")
    .option("--deadline-ms <ms>", "abort the run after this many milliseconds")
    .option("--max-steps <n>", "maximum activities per run (default 1000)")
    .option("--allow-loopback-http", "accept plain http:// URLs for loopback hosts (local test servers)")
    .option("--egress-allow <cidr-or-host>", EGRESS_ALLOW_HELP, collectEgressAllow)
    .option("--ca <file>", "trust this CA certificate (PEM) for HTTPS, in addition to the usual roots");
}

/** Reads the PEM file of `--ca`; a missing file is a usage error. */
export async function readCa(cwd: string, file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(path.resolve(cwd, file), "utf8");
  } catch (error) {
    throw new UsageError(`--ca ${file}: ${(error as Error).message}`);
  }
}

/**
 * The connectors file of `--connectors` as a registry. With `follow`, changes other processes write to the file
 * during the run apply at once (a deactivation halts the run at its next http-request); close the registry when
 * done. Its warnings go to stderr.
 */
export async function openConnectors(
  ctx: CliContext,
  file: string,
  options: { allowLoopbackHttp: boolean; follow: boolean },
): Promise<ConnectorRegistry> {
  const { allowLoopbackHttp, follow } = options;
  const store = new ConnectorFileStore(path.resolve(ctx.io.cwd, file), { allowLoopbackHttp });
  const registry = await ConnectorRegistry.open(store, {
    allowLoopbackHttp,
    follow,
    onWarning: (message) => ctx.io.stderr(`warning: ${message}\n`),
  });
  for (const warning of registry.warnings) ctx.io.stderr(`warning: ${warning.path}: ${warning.message}\n`);
  return registry;
}

/** What `engineOptionsFrom` does with `--connectors`: follow the file, read it once, or leave it (replay). */
export type ConnectorsMode = "follow" | "snapshot" | "none";

export interface CommandEngineOptions {
  readonly engine: EngineOptions;
  /** The registry of `--connectors` or `--redis` (for `record` to read its secrets). */
  readonly registry: ConnectorRegistry | undefined;
  /** Stops following and closes the Redis connections; call after the engine is closed. */
  close(): Promise<void>;
}

/**
 * The connectors of `--redis URL` (or FLOWRUN_REDIS_URL) and the fleet's shared tokens. `record` (a snapshot)
 * always fetches a new token, under the fleet's lease: a token served from Redis would leave the case without the
 * token exchange that replay needs.
 */
async function openRedisConnectors(
  ctx: CliContext,
  url: string,
  options: { allowLoopbackHttp: boolean; mode: "follow" | "snapshot" },
): Promise<{ registry: ConnectorRegistry; fleet: RedisFleet }> {
  const { allowLoopbackHttp, mode } = options;
  const fleet = await openFleet(ctx, url, { allowLoopbackHttp });
  try {
    const registry = await ConnectorRegistry.open(fleet.store, {
      allowLoopbackHttp,
      follow: mode === "follow",
      onWarning: (message) => ctx.io.stderr(`warning: ${message}\n`),
    });
    return { registry, fleet };
  } catch (error) {
    await fleet.close();
    throw error instanceof TokenKeyError ? new UsageError(error.message) : error;
  }
}

/**
 * Engine options from the command line, the same for run, record and run --replay: step limit, loopback rule,
 * CA, secrets' environment, warnings and, unless `connectors` is "none", the registry of `--connectors`.
 */
export async function engineOptionsFrom(
  ctx: CliContext,
  options: RunCliOptions,
  connectors: ConnectorsMode,
): Promise<CommandEngineOptions> {
  const allowLoopbackHttp = options.allowLoopbackHttp ?? false;
  const engine: EngineOptions = {
    maxSteps: positiveInteger("--max-steps", options.maxSteps),
    allowLoopbackHttp,
    egressAllow: options.egressAllow,
    ca: await readCa(ctx.io.cwd, options.ca),
    secrets: { env: ctx.io.env },
    proxyEnv: ctx.io.env,
    onWarning: (message) => ctx.io.stderr(`warning: ${message}\n`),
  };
  // An explicit --connectors FILE wins over FLOWRUN_REDIS_URL from the environment (fleet hosts export it);
  // only --redis given beside it is a conflict.
  const fileChosen = options.connectors !== undefined && options.redis === undefined;
  const redisUrl = connectors === "none" || fileChosen ? undefined : redisUrlFrom(ctx, options.redis);
  if (redisUrl !== undefined) {
    if (options.connectors !== undefined)
      throw new UsageError("--connectors and --redis exclude each other: connectors come from one place");
    const mode = connectors === "follow" ? "follow" : "snapshot";
    const { registry, fleet } = await openRedisConnectors(ctx, redisUrl, { allowLoopbackHttp, mode });
    const sharedTokens = mode === "snapshot" ? fleet.tokens.alwaysFetching() : fleet.tokens;
    return {
      engine: { ...engine, connectors: registry, sharedTokens },
      registry,
      close: async () => {
        await registry.close();
        await fleet.close();
      },
    };
  }
  const registry =
    connectors !== "none" && options.connectors
      ? await openConnectors(ctx, options.connectors, { allowLoopbackHttp, follow: connectors === "follow" })
      : undefined;
  return { engine: { ...engine, connectors: registry }, registry, close: async () => registry?.close() };
}

/** Runs a flow; a run rejects only for invalid inputs (an undeclared or unconvertible --var): a usage error. */
export async function runWithInputs(
  flow: CompiledFlow,
  options: RunOptions,
  deadlineMs: string | undefined,
): Promise<RunResult> {
  return flow
    .run({ ...options, deadlineMs: positiveInteger("--deadline-ms", deadlineMs) })
    .catch((error: unknown) => {
      throw error instanceof FlowrunError ? new UsageError(error.message) : error;
    });
}

/** The causes that come from how the run was set up (connectors, secrets), not from what the flow met. */
const CONFIGURATION_CAUSES: ReadonlySet<string> = new Set(["secret-env-unset", "secret-file-unreadable"]);

/** A trace entry that failed because of the run's configuration: an unset secret, a missing file, no connector. */
export function hasConfigurationProblem(result: RunResult): boolean {
  if (result.status === "halted" && result.reason === "connector-not-found") return true;
  return result.trace.some((entry) => {
    const cause = httpTraceOf(entry)?.cause;
    return cause !== undefined && CONFIGURATION_CAUSES.has(cause.code);
  });
}

export function exitCodeFor(result: RunResult): number {
  if (hasConfigurationProblem(result)) return EXIT.configuration;
  if (result.status === "completed") return EXIT.ok;
  if (result.status === "halted") return EXIT.halted;
  return EXIT.failed;
}

/**
 * The secrets a command's output must not show, known before the run: every connector secret as it resolves now
 * and the values of secret-named inputs (`--var apiKey=...`, a contact field). `run` and `record` share them; the
 * engine's scrubber learns the tokens it is issued on the way.
 */
export function commandSecrets(
  ctx: CliContext,
  registry: ConnectorRegistry | undefined,
  inputs: Record<string, unknown>,
): string[] {
  const values: string[] = [];
  const baseDir = registry?.baseDir ?? ctx.io.cwd;
  for (const connector of registry?.toDocument().connectors ?? []) {
    for (const field of secretFields(connector)) {
      try {
        values.push(resolveSecret(connector, field.field, field.value, { env: ctx.io.env, baseDir }));
      } catch {
        // An unresolvable secret cannot be sent either, so it cannot leak.
      }
    }
  }
  learnInputSecrets(values, inputs);
  return values;
}

/**
 * The result as every output (pretty trace, `--json`, `--report`) shows it: every secret the command or the engine
 * knows redacted, and values nested deeper than 32 levels cut with `[...]`.
 */
export function shownResult(engine: Engine, secrets: readonly string[], result: RunResult): RunResult {
  for (const secret of secrets) engine.scrubber.add(secret);
  return engine.scrubber.scrubValue(result);
}
