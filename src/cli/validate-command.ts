import path from "node:path";
import type { Command } from "commander";
import { describeError, type Problem } from "../core/errors.js";
import { readJsonFile } from "../core/json-source.js";
import { createEngine } from "../runtime/create-engine.js";
import { EXIT } from "./io.js";
import type { CliContext } from "./main.js";
import { paint } from "./paint.js";

export function registerValidateCommand(program: Command, ctx: CliContext): void {
  program
    .command("validate")
    .description(
      "check flows: schema, links, templates, expressions and JSON paths; every problem with its path",
    )
    .argument("<flow...>", "flow files (*.flow.json)")
    .action(async (files: string[]) => {
      const engine = createEngine();
      const colors = paint(ctx.io.color);
      let failed = false;
      for (const file of files) {
        const name = path.relative(ctx.io.cwd, path.resolve(ctx.io.cwd, file)) || file;
        let problems: Problem[];
        try {
          problems = engine.validate(await readJsonFile(path.resolve(ctx.io.cwd, file), name), {
            source: name,
          });
        } catch (error) {
          failed = true;
          ctx.io.stdout(`${colors.red("✗")} ${describeError(error)}\n`);
          continue;
        }
        const errors = problems.filter((p) => p.severity === "error");
        failed ||= errors.length > 0;
        const mark = errors.length > 0 ? colors.red("✗") : colors.green("✓");
        const summary = errors.length > 0 ? `${errors.length} error(s)` : "valid";
        ctx.io.stdout(`${mark} ${name}: ${summary}\n`);
        for (const problem of problems) {
          const label = problem.severity === "error" ? colors.red("error") : colors.yellow("warning");
          ctx.io.stdout(`  ${label} ${colors.dim(problem.path)}: ${problem.message}\n`);
        }
      }
      await engine.close();
      ctx.exit(failed ? EXIT.usage : EXIT.ok);
    });
}
