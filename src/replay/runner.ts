import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import type { Dispatcher } from "undici";
import { describeError, ValidationError } from "../core/errors.js";
import { JsonPositions, locatedProblemList } from "../core/json-positions.js";
import { readJsonSource } from "../core/json-source.js";
import { scriptedHandlers } from "../engine/host.js";
import type { RunResult } from "../engine/result.js";
import type { Engine } from "../runtime/create-engine.js";
import { checkExpectation } from "./expectations.js";
import { ReplaySession } from "./replay-agent.js";
import { type Expectation, type LoadedTestFile, loadTestFile, type TestCase } from "./test-file.js";

/** What a case's engine is built from: the replay dispatcher and the case's connector setup. */
export interface CaseEnvironment {
  readonly dispatcher: Dispatcher;
  readonly connectorsPath: string | undefined;
  readonly connectorStatus: TestCase["connectorStatus"];
}

export type EngineFactory = (environment: CaseEnvironment) => Promise<Engine>;

export interface CaseReport {
  readonly file: string;
  readonly name: string;
  readonly passed: boolean;
  readonly durationMs: number;
  /** Readable reasons, one per problem (unmatched requests with their diff, expectation mismatches, ...). */
  readonly failures: readonly string[];
  readonly result: RunResult | undefined;
  /** The flow document the case ran (for reports that draw it); undefined when the test file did not load. */
  readonly flowDocument?: unknown;
  /** The case's `expect`. */
  readonly expected?: Expectation;
  /** The flow did not compile (the failure says why; later cases of the file refer to the first). */
  readonly compileFailed?: boolean;
}

export interface TestFileOptions {
  /** Only the cases whose name matches. */
  readonly casePattern?: RegExp;
  /** Stop at the first failing case: cases run one after another instead of together. */
  readonly bail?: boolean;
}

/** A run of a case does not wait for ever: a flow waiting on a missing exchange fails the case instead. */
const CASE_DEADLINE_MS = 30_000;

/** `*.test.json` files under the given files and folders, sorted; folders are searched recursively. */
export async function discoverTestFiles(paths: readonly string[], cwd: string): Promise<string[]> {
  const found = new Set<string>();
  const visit = async (target: string): Promise<void> => {
    const info = await stat(target);
    if (info.isDirectory()) {
      for (const entry of await readdir(target, { withFileTypes: true })) {
        if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
        const child = path.join(target, entry.name);
        if (entry.isDirectory()) await visit(child);
        else if (entry.name.endsWith(".test.json")) found.add(child);
      }
    } else found.add(target);
  };
  for (const target of paths.length > 0 ? paths : ["."]) await visit(path.resolve(cwd, target));
  return [...found].sort();
}

/** Replays one case through the engine's production request path with a MockAgent as its dispatcher. */
async function runCase(
  testFile: LoadedTestFile,
  testCase: TestCase,
  flowDocument: unknown,
  engineFactory: EngineFactory,
  displayName: string,
  /** The flow file's text and name, to show compile problems at their file:line:column. */
  flowSource?: { readonly text: string; readonly name: string },
): Promise<CaseReport> {
  const started = performance.now();
  const session = new ReplaySession(testCase.exchanges);
  const failures: string[] = [];
  let result: RunResult | undefined;
  let engine: Engine | undefined;
  let compileFailed = false;
  try {
    engine = await engineFactory({
      dispatcher: session.dispatcher,
      connectorsPath: testFile.connectorsPath,
      connectorStatus: testCase.connectorStatus,
    });
    const flow = engine.compile(flowDocument, { source: path.relative(process.cwd(), testFile.flowPath) });
    result = await flow.run({
      contact: testCase.contact,
      variables: testCase.variables,
      handlers: scriptedHandlers(testCase.menuInputs ?? []),
      deadlineMs: CASE_DEADLINE_MS,
    });
    failures.push(...session.unmatched);
    failures.push(...checkExpectation(result, testCase.expect));
    if (!testCase.allowUnused) {
      for (const exchange of session.unused) {
        failures.push(
          `recorded exchange never used: ${exchange.request.method} ${exchange.request.url} (set "allowUnused": true to allow)`,
        );
      }
    }
  } catch (error) {
    compileFailed = error instanceof ValidationError;
    failures.push(
      error instanceof ValidationError && flowSource
        ? locatedProblemList(error.problems, flowSource.name, new JsonPositions(flowSource.text))
        : describeError(error),
    );
  } finally {
    await engine?.close();
    await session.close();
  }
  // A request that matched no recording is shown as it was sent: the secrets the engine resolved go first.
  const scrubber = engine?.scrubber;
  return {
    file: displayName,
    name: testCase.name,
    passed: failures.length === 0,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    failures: scrubber ? failures.map((failure) => scrubber.scrubText(failure)) : failures,
    result: scrubber && result ? scrubber.scrubValue(result) : result,
    flowDocument,
    expected: testCase.expect,
    ...(compileFailed ? { compileFailed } : {}),
  };
}

/**
 * Runs the cases of a test file and reports them in the file's order (cases run together unless `bail`). A flow
 * that does not compile fails every case, but its problems are shown once, with the first case.
 */
export async function runTestFile(
  file: string,
  engineFactory: EngineFactory,
  onCase: (report: CaseReport) => void,
  cwd = process.cwd(),
  options: TestFileOptions = {},
): Promise<CaseReport[]> {
  const displayName = path.relative(cwd, file) || file;
  let testFile: LoadedTestFile;
  let flowDocument: unknown;
  let flowSource: { text: string; name: string };
  try {
    testFile = await loadTestFile(file, displayName);
    const name = path.relative(cwd, testFile.flowPath);
    const source = await readJsonSource(testFile.flowPath, name);
    flowDocument = source.value;
    flowSource = { text: source.text, name };
  } catch (error) {
    const report: CaseReport = {
      file: displayName,
      name: "(test file)",
      passed: false,
      durationMs: 0,
      failures: [describeError(error)],
      result: undefined,
    };
    onCase(report);
    return [report];
  }
  const cases = testFile.cases.filter((c) => options.casePattern?.test(c.name) ?? true);
  const run = (testCase: TestCase) =>
    runCase(testFile, testCase, flowDocument, engineFactory, displayName, flowSource);
  const running = options.bail ? undefined : cases.map(run);
  const reports: CaseReport[] = [];
  for (const [index, testCase] of cases.entries()) {
    const report = await (running ? running[index]! : run(testCase));
    reports.push(report);
    onCase(report);
    if (options.bail && !report.passed) break;
  }
  await Promise.all(running ?? []);
  return reports;
}
