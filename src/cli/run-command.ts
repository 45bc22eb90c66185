import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { createEngine } from "../engine/engine.js";
import { FlowrunError } from "../engine/errors.js";
import { scriptedHandlers } from "../engine/host.js";
import { readJsonFile } from "../engine/json-source.js";
import type { RunResult } from "../engine/result.js";
import { EXIT, UsageError } from "./io.js";
import type { CliContext } from "./main.js";
import { collectList, collectPairs, positiveInteger } from "./options.js";
import { paint } from "./paint.js";
import { formatTrace } from "./trace-format.js";

interface RunCommandOptions {
  var?: Record<string, string>;
  contact?: Record<string, string>;
  menuInput?: string[];
  json?: boolean;
  deadlineMs?: string;
  maxSteps?: string;
  allowLoopbackHttp?: boolean;
  ca?: string;
}

/** Reads the PEM file of `--ca`; a missing file is a usage error. */
async function readCa(cwd: string, file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(path.resolve(cwd, file), "utf8");
  } catch (error) {
    throw new UsageError(`--ca ${file}: ${(error as Error).message}`);
  }
}

export function exitCodeFor(result: RunResult): number {
  if (result.status === "completed") return EXIT.ok;
  if (result.status === "halted") return EXIT.halted;
  return EXIT.failed;
}

export function registerRunCommand(program: Command, ctx: CliContext): void {
  program
    .command("run")
    .description("run a flow once and print a readable trace (or the JSON result)")
    .argument("<flow>", "flow file (*.flow.json)")
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
    .option("--ca <file>", "trust this CA certificate (PEM) for HTTPS, in addition to the usual roots")
    .action(async (file: string, options: RunCommandOptions) => {
      const flowPath = path.resolve(ctx.io.cwd, file);
      const engine = createEngine({
        maxSteps: positiveInteger("--max-steps", options.maxSteps),
        allowLoopbackHttp: options.allowLoopbackHttp ?? false,
        ca: await readCa(ctx.io.cwd, options.ca),
      });
      try {
        const flow = engine.compile(await readJsonFile(flowPath, file), { source: file });
        // A run rejects only for invalid inputs (an undeclared or unconvertible --var): a usage error.
        const result = await flow
          .run({
            variables: options.var,
            contact: options.contact,
            handlers: scriptedHandlers(options.menuInput ?? []),
            deadlineMs: positiveInteger("--deadline-ms", options.deadlineMs),
          })
          .catch((error: unknown) => {
            throw error instanceof FlowrunError ? new UsageError(error.message) : error;
          });
        ctx.io.stdout(
          options.json
            ? `${JSON.stringify(result, null, 2)}\n`
            : formatTrace(flow.name, result, paint(ctx.io.color)),
        );
        ctx.exit(exitCodeFor(result));
      } finally {
        await engine.close();
      }
    });
}
