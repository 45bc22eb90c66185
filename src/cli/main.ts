import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { FlowrunError, ValidationError } from "../core/errors.js";
import { JsonSourceError } from "../core/json-source.js";
import { registerConnectorsCommand } from "./connectors-command.js";
import { type CliIo, EXIT, processIo, UsageError } from "./io.js";
import { registerRecordCommand } from "./record-command.js";
import { registerRunCommand } from "./run-command.js";
import { registerTestCommand } from "./test-command.js";
import { registerValidateCommand } from "./validate-command.js";

/** What every command registration receives. */
export interface CliContext {
  readonly io: CliIo;
  /** Sets the process exit code for this invocation. */
  exit(code: number): void;
}

/**
 * The package's version, from the nearest package.json named flowrun above this module: two folders up from
 * src/cli and dist/cli, further when the CLI is bundled elsewhere (the tests' child processes).
 */
function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === "flowrun" && manifest.version) return manifest.version;
    } catch {
      // No package.json here, or not one we can read: look further up.
    }
    const parent = path.dirname(dir);
    if (parent === dir) return "unknown";
    dir = parent;
  }
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command("flowrun")
    .description("Run, validate and test contact-center call flows")
    .version(packageVersion(), "-V, --version", "print the flowrun version")
    .option("--debug", "show stack traces of internal errors")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (text) => ctx.io.stdout(text), writeErr: (text) => ctx.io.stderr(text) });
  registerRunCommand(program, ctx);
  registerTestCommand(program, ctx);
  registerRecordCommand(program, ctx);
  registerValidateCommand(program, ctx);
  registerConnectorsCommand(program, ctx);
  for (const command of program.commands) {
    command
      .exitOverride()
      .configureOutput({ writeOut: (t) => ctx.io.stdout(t), writeErr: (t) => ctx.io.stderr(t) });
  }
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram({
    io,
    exit: (value) => {
      code = value;
    },
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ValidationError || error instanceof JsonSourceError || error instanceof UsageError) {
      io.stderr(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof FlowrunError) {
      io.stderr(`error: ${error.message}\n`);
      return EXIT.failed;
    }
    io.stderr(`internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (argv.includes("--debug") && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    else io.stderr("(run with --debug for the stack trace)\n");
    return EXIT.failed;
  }
}
