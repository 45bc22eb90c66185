import path from "node:path";
import type { Command } from "commander";
import { describeError, type Problem } from "../core/errors.js";
import { JsonPositions, problemLocation } from "../core/json-positions.js";
import { readJsonSource } from "../core/json-source.js";
import { createEngine, type Engine } from "../runtime/create-engine.js";
import { EXIT } from "./io.js";
import type { CliContext } from "./main.js";
import { type Paint, paint } from "./paint.js";
import { engineOptionsFrom } from "./run-options.js";

/** "1 error", "2 errors". */
function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** One problem as `  error FILE:LINE:COL $.json.path: message`, so editors and terminals can jump to it. */
function problemLine(problem: Problem, file: string, positions: JsonPositions, colors: Paint): string {
  const label = problem.severity === "error" ? colors.red("error") : colors.yellow("warning");
  const where = problemLocation(problem, file, positions);
  return `  ${label} ${colors.dim(where)}: ${problem.message}\n`;
}

/** Validates one file and prints its verdict and problems; true when it has errors. */
async function validateFile(ctx: CliContext, engine: Engine, file: string, colors: Paint): Promise<boolean> {
  const name = path.relative(ctx.io.cwd, path.resolve(ctx.io.cwd, file)) || file;
  let problems: Problem[];
  let text: string;
  try {
    const source = await readJsonSource(path.resolve(ctx.io.cwd, file), name);
    text = source.text;
    problems = engine.validate(source.value, { source: name });
  } catch (error) {
    ctx.io.stdout(`${colors.red("✗")} ${describeError(error)}\n`);
    return true;
  }
  const errors = problems.filter((p) => p.severity === "error").length;
  const warnings = problems.length - errors;
  const summary =
    errors > 0
      ? plural(errors, "error") + (warnings > 0 ? `, ${plural(warnings, "warning")}` : "")
      : warnings > 0
        ? `valid, ${plural(warnings, "warning")}`
        : "valid";
  ctx.io.stdout(`${errors > 0 ? colors.red("✗") : colors.green("✓")} ${name}: ${summary}\n`);
  // Positions are worked out only for a file that has problems to place.
  if (problems.length > 0) {
    const positions = new JsonPositions(text);
    for (const problem of problems) ctx.io.stdout(problemLine(problem, name, positions, colors));
  }
  return errors > 0;
}

export function registerValidateCommand(program: Command, ctx: CliContext): void {
  program
    .command("validate")
    .description(
      "check flows: schema, links, unlinked outcomes, undefined names, templates, expressions, JSON paths " +
        "and (with --connectors) connector names; every problem with its file:line:column",
    )
    .argument("<flow...>", "flow files (*.flow.json)")
    .option(
      "--connectors <file>",
      "also check that every connector the flows name is in this connectors file",
    )
    .action(async (files: string[], options: { connectors?: string }) => {
      const { engine: engineOptions, close } = await engineOptionsFrom(
        ctx,
        { connectors: options.connectors },
        options.connectors === undefined ? "none" : "snapshot",
      );
      const engine = createEngine(engineOptions);
      const colors = paint(ctx.io.color);
      let failed = false;
      try {
        for (const file of files) failed = (await validateFile(ctx, engine, file, colors)) || failed;
      } finally {
        await engine.close();
        await close();
      }
      ctx.exit(failed ? EXIT.usage : EXIT.ok);
    });
}
