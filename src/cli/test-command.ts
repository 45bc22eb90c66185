import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { replayEngineFactory } from "../replay/engine-factory.js";
import { type CaseReport, discoverTestFiles, runTestFile } from "../replay/runner.js";
import { EXIT, UsageError } from "./io.js";
import type { CliContext } from "./main.js";
import { collectEgressAllow, EGRESS_ALLOW_HELP } from "./options.js";
import { paint } from "./paint.js";
import { jsonReport } from "./reporters/json.js";
import { junitReport } from "./reporters/junit.js";
import {
  type CompileFailuresShown,
  failureSummary,
  prettyCaseLine,
  summaryLine,
} from "./reporters/pretty.js";

const REPORTERS = ["pretty", "json", "junit", "html"] as const;
type Reporter = (typeof REPORTERS)[number];

interface TestCliOptions {
  reporter: string;
  output?: string;
  egressAllow?: string[];
  case?: string;
  bail?: boolean;
}

/** `-t PATTERN` as a regular expression, as Jest reads it. */
function casePattern(pattern: string | undefined): RegExp | undefined {
  if (pattern === undefined) return undefined;
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new UsageError(
      `--case ${JSON.stringify(pattern)} is not a regular expression: ${(error as Error).message}`,
    );
  }
}

/** A file named on the command line must be a test file: a flow given by mistake is a usage error, not a failure. */
async function findTestFiles(paths: readonly string[], cwd: string): Promise<string[]> {
  for (const given of paths) {
    if (given.endsWith(".flow.json"))
      throw new UsageError(
        `${given} is a flow, not a test file: give its *.test.json (or the folder), or run the flow with npx flowrun run ${given}`,
      );
  }
  let files: string[];
  try {
    files = await discoverTestFiles(paths, cwd);
  } catch (error) {
    throw new UsageError(
      `cannot read ${paths.join(", ")}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  const notTests = files.filter((file) => !file.endsWith(".test.json"));
  if (notTests.length > 0)
    throw new UsageError(
      `${notTests.map((file) => path.relative(cwd, file) || file).join(", ")}: not a test file (test files are named *.test.json)`,
    );
  if (files.length === 0) throw new UsageError(`no *.test.json files found in ${paths.join(", ") || "."}`);
  return files;
}

/** The report a reporter writes once every case ran; undefined for pretty, which streams. */
async function writtenReport(
  reporter: Reporter,
  reports: readonly CaseReport[],
): Promise<string | undefined> {
  switch (reporter) {
    case "json":
      return jsonReport(reports);
    case "junit":
      return junitReport(reports);
    case "html": {
      // The report code (and its graph layout library) loads only when an HTML report is asked for.
      const { testReportHtml } = await import("./reporters/html/test-report.js");
      return testReportHtml(reports, new Date());
    }
    case "pretty":
      return undefined;
  }
}

export function registerTestCommand(program: Command, ctx: CliContext): void {
  program
    .command("test")
    .description(
      "replay fixture tests (*.test.json) with their recorded HTTP exchanges; no network is touched",
    )
    .argument("[paths...]", "test files or folders to search for *.test.json (default: the current folder)")
    .option("--reporter <name>", `output format: ${REPORTERS.join(", ")}`, "pretty")
    .option("--output <file>", "write the json, junit or html report to this file instead of standard output")
    .option("--egress-allow <cidr-or-host>", EGRESS_ALLOW_HELP, collectEgressAllow)
    .option("-t, --case <pattern>", "run only the cases whose name matches this regular expression")
    .option("--bail", "stop at the first failing case")
    .action(async (paths: string[], options: TestCliOptions) => {
      if (!REPORTERS.includes(options.reporter as Reporter)) {
        throw new UsageError(
          `--reporter must be one of ${REPORTERS.join(", ")}, got ${JSON.stringify(options.reporter)}`,
        );
      }
      const reporter = options.reporter as Reporter;
      const pattern = casePattern(options.case);
      const files = await findTestFiles(paths, ctx.io.cwd);
      const colors = paint(ctx.io.color);
      const compileFailuresShown: CompileFailuresShown = new Map();
      // Pretty output streams each case as it finishes; with --output the pretty lines still go to the terminal.
      const streamCases = reporter === "pretty" || options.output !== undefined;
      const factory = replayEngineFactory({
        egressAllow: options.egressAllow,
        secrets: { env: ctx.io.env },
        onWarning: (message) => ctx.io.stderr(`warning: ${message}\n`),
      });
      const reports: CaseReport[] = [];
      for (const file of files) {
        const fileReports = await runTestFile(
          file,
          factory,
          (report) => {
            if (streamCases) ctx.io.stdout(prettyCaseLine(report, colors, compileFailuresShown));
          },
          ctx.io.cwd,
          { casePattern: pattern, bail: options.bail },
        );
        reports.push(...fileReports);
        if (options.bail && fileReports.some((r) => !r.passed)) break;
      }
      if (pattern && reports.length === 0)
        throw new UsageError(`no case name matches ${JSON.stringify(options.case)}`);
      const report = await writtenReport(reporter, reports);
      if (report !== undefined) {
        if (options.output) await writeFile(path.resolve(ctx.io.cwd, options.output), report);
        else ctx.io.stdout(report);
      }
      if (streamCases) ctx.io.stdout(failureSummary(reports, colors) + summaryLine(reports));
      ctx.exit(reports.every((r) => r.passed) ? EXIT.ok : EXIT.failed);
    });
}
