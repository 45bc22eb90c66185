import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { FlowrunError } from "../core/errors.js";
import { parseJsonText, readJsonFile } from "../core/json-source.js";
import { scriptedHandlers } from "../engine/host.js";
import { recordingInterceptor, redactCase } from "../replay/recorder.js";
import type { Exchange, TestCase, TestFile } from "../replay/test-file.js";
import { testFileSchema } from "../replay/test-file.js";
import { createEngine } from "../runtime/create-engine.js";
import { cliHints } from "./hints.js";
import { UsageError } from "./io.js";
import type { CliContext } from "./main.js";
import { paint } from "./paint.js";
import {
  addRunOptions,
  commandSecrets,
  engineOptionsFrom,
  exitCodeFor,
  hasConfigurationProblem,
  type RunCliOptions,
  runWithInputs,
  shownResult,
} from "./run-options.js";
import { formatTrace } from "./trace-format.js";

interface RecordOptions extends RunCliOptions {
  case: string;
  out: string;
  strict?: boolean;
}

/** "2 exchanges (1 network fault)": what the case holds, faults counted apart. */
function exchangeSummary(exchanges: readonly Exchange[]): string {
  const faults = exchanges.filter((exchange) => exchange.fault !== undefined);
  const counts = new Map<string, number>();
  for (const { fault } of faults) counts.set(fault!, (counts.get(fault!) ?? 0) + 1);
  const faultText = [...counts].map(([fault, n]) => `${n} ${fault} fault${n === 1 ? "" : "s"}`).join(", ");
  return `${exchanges.length} exchange${exchanges.length === 1 ? "" : "s"}${faultText ? ` (${faultText})` : ""}`;
}

/** Under --strict a case must hold answers only: a request that failed at the network level refuses the recording. */
function strictRefusal(exchanges: readonly Exchange[], out: string): string | undefined {
  const failed = exchanges.filter((exchange) => exchange.fault !== undefined);
  if (failed.length === 0) return undefined;
  const list = failed.map((e) => `${e.request.method} ${e.request.url} (${e.fault})`).join(", ");
  return `--strict: ${list} got no answer (${failed.length === 1 ? "a fault" : "faults"} at the network level); nothing was written to ${out}`;
}

/** `record --strict` met a request without an answer; exit 1, nothing written. */
class RecordRefused extends FlowrunError {
  constructor(message: string) {
    super("record-refused", message);
    this.name = "RecordRefused";
  }
}

async function readExisting(file: string): Promise<TestFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = testFileSchema.safeParse(parseJsonText(text, file));
  if (!parsed.success)
    throw new UsageError(`${file} exists but is not a flowrun test file; choose another --out`);
  return parsed.data;
}

/** Writes next to the target and renames, so an interrupted write never leaves half a test file. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, text, { mode: 0o644 });
  await rename(temp, file);
}

const relative = (from: string, to: string) => {
  const link = path.relative(path.dirname(from), to).split(path.sep).join("/");
  return link.startsWith(".") ? link : `./${link}`;
};

/** Adds the case to the test file (created beside the flow's and connectors' paths), replacing one of its name. */
async function writeCase(
  outPath: string,
  flowPath: string,
  connectorsPath: string | undefined,
  recordedCase: TestCase,
): Promise<void> {
  const testFile: TestFile = (await readExisting(outPath)) ?? {
    flow: relative(outPath, flowPath),
    ...(connectorsPath ? { connectors: relative(outPath, connectorsPath) } : {}),
    cases: [],
  };
  testFile.cases = [...testFile.cases.filter((c) => c.name !== recordedCase.name), recordedCase];
  await writeAtomically(outPath, `${JSON.stringify(testFile, null, 2)}\n`);
}

export function registerRecordCommand(program: Command, ctx: CliContext): void {
  addRunOptions(
    program
      .command("record")
      .description(
        "run a flow against live endpoints and save the case with its HTTP exchanges, secrets redacted",
      )
      .argument("<flow>", "flow file (*.flow.json)")
      .requiredOption("--case <name>", "name of the case (an existing case of that name is replaced)")
      .requiredOption("--out <testfile>", "test file to write (*.test.json); created or appended to")
      .option(
        "--strict",
        'refuse to write the case when a request failed at the network level (by default it is recorded as fault: "network" or "timeout")',
      ),
  ).action(async (file: string, options: RecordOptions) => {
    const flowPath = path.resolve(ctx.io.cwd, file);
    const outPath = path.resolve(ctx.io.cwd, options.out);
    // Not following: every secret the recording redacts must be known before the first request.
    const { engine: engineOptions, registry, close } = await engineOptionsFrom(ctx, options, "snapshot");
    const secrets = commandSecrets(ctx, registry, { contact: options.contact, variables: options.var });
    const exchanges: Exchange[] = [];
    const engine = createEngine({
      ...engineOptions,
      interceptors: [recordingInterceptor(secrets, (exchange) => exchanges.push(exchange))],
    });
    try {
      const flow = engine.compile(await readJsonFile(flowPath, file), { source: file });
      const menuInputs = options.menuInput ?? [];
      const result = await runWithInputs(
        flow,
        { variables: options.var, contact: options.contact, handlers: scriptedHandlers(menuInputs) },
        options.deadlineMs,
      );
      // Scrubbed whole, inputs included: a secret given as a contact field or a variable is no less secret.
      const recordedCase: TestCase = redactCase(
        {
          name: options.case,
          ...(options.contact ? { contact: options.contact } : {}),
          ...(options.var ? { variables: options.var } : {}),
          ...(menuInputs.length > 0 ? { menuInputs } : {}),
          exchanges,
          expect: {
            status: result.status,
            reason: result.reason,
            endedAt: result.endedAt,
            path: result.path,
            variables: result.variables,
            actions: result.actions.map(({ activity: _activity, ...action }) => action),
          },
        },
        secrets,
      );
      const refusal = options.strict ? strictRefusal(exchanges, options.out) : undefined;
      if (refusal) throw new RecordRefused(refusal);
      // A run that met a configuration problem (unset secret, unknown connector) recorded the problem, not the
      // API: its case would fail in every replay. Nothing is written; the trace below says what to fix.
      const misconfigured = hasConfigurationProblem(result);
      if (!misconfigured) {
        const connectorsPath = options.connectors && path.resolve(ctx.io.cwd, options.connectors);
        await writeCase(outPath, flowPath, connectorsPath, recordedCase);
      }
      // The terminal gets what the file got: a secret given as an input is shown `[REDACTED]` in the trace too.
      const shown = shownResult(engine, secrets, result);
      const print = (text: string) => ctx.io.stdout(engine.scrubber.scrubText(text));
      print(
        options.json
          ? `${JSON.stringify(shown, null, 2)}\n`
          : formatTrace(
              flow.name,
              shown,
              paint(ctx.io.color),
              cliHints({
                cwd: ctx.io.cwd,
                flowFile: file,
                connectorsFile: options.connectors,
                replay: false,
              }),
            ),
      );
      if (misconfigured)
        ctx.io.stderr(
          `nothing was recorded into ${options.out}: the run met a configuration problem (above); fix it and record again\n`,
        );
      else
        print(
          `recorded case ${JSON.stringify(options.case)} with ${exchangeSummary(exchanges)} into ${options.out}\n`,
        );
      ctx.exit(exitCodeFor(result));
    } finally {
      await engine.close();
      await close();
    }
  });
}
