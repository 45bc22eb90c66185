import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { ConnectorFileStore } from "../connectors/file-store.js";
import { TokenKeyError } from "../connectors/redis/sealing.js";
import { ConnectorRegistry } from "../connectors/registry.js";
import type { SharedTokenStore } from "../connectors/token-cache.js";
import type { CompiledFlow, EngineOptions } from "../engine/engine.js";
import { FlowrunError } from "../engine/errors.js";
import type { RunOptions } from "../engine/interpreter.js";
import type { RunResult } from "../engine/result.js";
import { EXIT, UsageError } from "./io.js";
import type { CliContext } from "./main.js";
import { collectList, collectPairs, positiveInteger } from "./options.js";
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

export interface OpenedConnectors {
  readonly registry: ConnectorRegistry;
  readonly baseDir: string;
  /** With Redis: the fleet's shared tokens (`record` fetches a new token each time, see there). */
  readonly sharedTokens?: SharedTokenStore;
  readonly recordingTokens?: SharedTokenStore;
  /** Stops following and closes what was opened (the Redis connections); call after the engine is closed. */
  close(): Promise<void>;
}

/**
 * The connectors of `--connectors FILE` or `--redis URL` (or FLOWRUN_REDIS_URL) as a registry for the engine;
 * undefined when neither is given. With `follow`, changes other processes make during the run apply at once (a
 * deactivation halts the run at its next http-request).
 */
export async function openConnectors(
  ctx: CliContext,
  options: Pick<RunCliOptions, "connectors" | "redis" | "allowLoopbackHttp">,
  { follow }: { follow: boolean },
): Promise<OpenedConnectors | undefined> {
  const allowLoopbackHttp = options.allowLoopbackHttp ?? false;
  const onWarning = (message: string) => ctx.io.stderr(`warning: ${message}\n`);
  const redisUrl = redisUrlFrom(ctx, options.redis);
  if (redisUrl !== undefined) {
    if (options.connectors !== undefined)
      throw new UsageError("--connectors and --redis exclude each other: connectors come from one place");
    const fleet = await openFleet(ctx, redisUrl, { allowLoopbackHttp });
    try {
      const registry = await ConnectorRegistry.open(fleet.store, { allowLoopbackHttp, follow, onWarning });
      return {
        registry,
        baseDir: ctx.io.cwd,
        sharedTokens: fleet.tokens,
        recordingTokens: fleet.tokens.alwaysFetching(),
        close: async () => {
          await registry.close();
          await fleet.close();
        },
      };
    } catch (error) {
      await fleet.close();
      throw error instanceof TokenKeyError ? new UsageError(error.message) : error;
    }
  }
  if (options.connectors === undefined) return undefined;
  const store = new ConnectorFileStore(path.resolve(ctx.io.cwd, options.connectors), { allowLoopbackHttp });
  const registry = await ConnectorRegistry.open(store, { allowLoopbackHttp, follow, onWarning });
  for (const warning of registry.warnings) ctx.io.stderr(`warning: ${warning.path}: ${warning.message}\n`);
  return { registry, baseDir: path.dirname(store.file), close: () => registry.close() };
}

/** Engine options from the command line (without the connectors). */
export async function engineOptionsFrom(ctx: CliContext, options: RunCliOptions): Promise<EngineOptions> {
  return {
    maxSteps: positiveInteger("--max-steps", options.maxSteps),
    allowLoopbackHttp: options.allowLoopbackHttp ?? false,
    ca: await readCa(ctx.io.cwd, options.ca),
    secrets: { env: ctx.io.env },
    onWarning: (message) => ctx.io.stderr(`warning: ${message}\n`),
  };
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

export function exitCodeFor(result: RunResult): number {
  if (result.status === "completed") return EXIT.ok;
  if (result.status === "halted") return EXIT.halted;
  return EXIT.failed;
}
