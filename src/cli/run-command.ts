import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { ValidationError } from "../core/errors.js";
import { JsonPositions, locatedProblemList } from "../core/json-positions.js";
import { readJsonSource } from "../core/json-source.js";
import { scriptedHandlers } from "../engine/host.js";
import { replayEngineFactory } from "../replay/engine-factory.js";
import { ReplaySession } from "../replay/replay-agent.js";
import { loadTestFile, type TestCase } from "../replay/test-file.js";
import { createEngine, type Engine } from "../runtime/create-engine.js";
import { cliHints } from "./hints.js";
import { UsageError } from "./io.js";
import type { CliContext } from "./main.js";
import { paint } from "./paint.js";
import {
  addRunOptions,
  commandSecrets,
  engineOptionsFrom,
  exitCodeFor,
  type RunCliOptions,
  runWithInputs,
  shownResult,
} from "./run-options.js";
import { formatTrace } from "./trace-format.js";

interface RunCommandOptions extends RunCliOptions {
  replay?: string;
  case?: string;
  report?: string;
}

interface ReplayedCase {
  testCase: TestCase;
  session: ReplaySession;
}

/** The engine for `flowrun run`: live, or replaying one recorded case; the same run options either way. */
async function engineFor(
  ctx: CliContext,
  options: RunCommandOptions,
): Promise<{ engine: Engine; replayed?: ReplayedCase; close?: () => Promise<void>; secrets: string[] }> {
  const inputs = { contact: options.contact, variables: options.var };
  if (options.replay === undefined && options.case === undefined) {
    const { engine, registry, close } = await engineOptionsFrom(ctx, options, "follow");
    return { engine: createEngine(engine), close, secrets: commandSecrets(ctx, registry, inputs) };
  }
  if (!options.replay || !options.case) throw new UsageError("--replay and --case go together");
  const testFile = await loadTestFile(path.resolve(ctx.io.cwd, options.replay), options.replay);
  const testCase = testFile.cases.find((c) => c.name === options.case);
  if (!testCase) {
    throw new UsageError(
      `${options.replay} has no case ${JSON.stringify(options.case)}; its cases: ${testFile.cases.map((c) => JSON.stringify(c.name)).join(", ")}`,
    );
  }
  const session = new ReplaySession(testCase.exchanges);
  const connectorsPath = options.connectors
    ? path.resolve(ctx.io.cwd, options.connectors)
    : testFile.connectorsPath;
  // The replay factory reads the connectors file itself (in memory, recorded statuses, placeholder secrets).
  const { engine: base } = await engineOptionsFrom(ctx, options, "none");
  const engine = await replayEngineFactory(base)({
    dispatcher: session.dispatcher,
    connectorsPath,
    connectorStatus: testCase.connectorStatus,
  });
  return { engine, replayed: { testCase, session }, secrets: commandSecrets(ctx, undefined, inputs) };
}

/** Compiles the flow; its problems, if any, are shown at their file:line:column as `validate` shows them. */
function compileLocated(engine: Engine, document: unknown, text: string, file: string) {
  try {
    return engine.compile(document, { source: file });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new UsageError(locatedProblemList(error.problems, file, new JsonPositions(text)));
  }
}

export function registerRunCommand(program: Command, ctx: CliContext): void {
  addRunOptions(
    program
      .command("run")
      .description("run a flow once and print a readable trace (or the JSON result)")
      .argument("<flow>", "flow file (*.flow.json)"),
  )
    .option("--replay <testfile>", "answer HTTP requests from a recorded case instead of the network")
    .option("--case <name>", "the case of --replay to use")
    .option("--report <file>", "also write a self-contained HTML report of the run (graph, path, details)")
    .action(async (file: string, options: RunCommandOptions) => {
      const { engine, replayed, close, secrets } = await engineFor(ctx, options);
      try {
        const { text, value: flowDocument } = await readJsonSource(path.resolve(ctx.io.cwd, file), file);
        const flow = compileLocated(engine, flowDocument, text, file);
        const recorded = replayed?.testCase;
        const ran = await runWithInputs(
          flow,
          {
            variables: { ...recorded?.variables, ...options.var },
            contact: { ...recorded?.contact, ...options.contact },
            handlers: scriptedHandlers(options.menuInput ?? recorded?.menuInputs ?? []),
          },
          options.deadlineMs,
        );
        const result = shownResult(engine, secrets, ran);
        const colors = paint(ctx.io.color);
        const hints = cliHints({
          cwd: ctx.io.cwd,
          flowFile: file,
          connectorsFile: options.connectors,
          replay: replayed !== undefined,
        });
        ctx.io.stdout(
          options.json
            ? `${JSON.stringify(result, null, 2)}\n`
            : formatTrace(flow.name, result, colors, hints),
        );
        const unmatched = replayed?.session.unmatched ?? [];
        const unused = (replayed?.session.unused ?? []).map(
          (exchange) => `recorded exchange never used: ${exchange.request.method} ${exchange.request.url}`,
        );
        for (const problem of unmatched) ctx.io.stderr(`${colors.red(engine.scrubber.scrubText(problem))}\n`);
        for (const problem of unused) ctx.io.stderr(`${colors.yellow(problem)}\n`);
        if (options.report) {
          // The report code (and its graph layout library) loads only when a report is asked for.
          const { runReportHtml } = await import("./reporters/html/run-report.js");
          const html = runReportHtml({
            flowName: flow.name,
            flowFile: file,
            flowDocument,
            result,
            replay: replayed && { file: options.replay!, caseName: replayed.testCase.name },
            problems: [...unmatched, ...unused],
            generatedAt: new Date(),
          });
          await writeFile(path.resolve(ctx.io.cwd, options.report), html);
        }
        ctx.exit(exitCodeFor(ran));
      } finally {
        await engine.close();
        await close?.();
        await replayed?.session.close();
      }
    });
}
