import { existsSync } from "node:fs";
import path from "node:path";
import type { FixableCause } from "../core/errors.js";
import { httpTraceOf, type RunResult, type TraceEntry } from "../engine/result.js";

/** What the command line said, so a hint can tell what is missing from it. */
export interface HintContext {
  readonly cwd: string;
  /** The flow file as given. */
  readonly flowFile: string;
  /** `--connectors` as given (undefined when absent). */
  readonly connectorsFile: string | undefined;
  /** Connectors came from a replayed test file, not from `--connectors`. */
  readonly replay: boolean;
}

/** Hints for one trace entry, one line each, for people only (never in `--json` output or library results). */
export type Hints = (entry: TraceEntry, result: RunResult) => string[];

/** Where a connectors file may be that the user forgot: beside the flow, then one folder up. */
function nearbyConnectorsFile(context: HintContext): string | undefined {
  const flowDir = path.dirname(path.resolve(context.cwd, context.flowFile));
  for (const dir of [flowDir, path.dirname(flowDir)]) {
    const candidate = path.join(dir, "connectors.json");
    if (existsSync(candidate)) return path.relative(context.cwd, candidate) || candidate;
  }
  return undefined;
}

function connectorNotFoundHint(connector: string, context: HintContext): string | undefined {
  if (context.connectorsFile !== undefined || context.replay) return undefined;
  const nearby = nearbyConnectorsFile(context);
  return nearby
    ? `no --connectors was given, so connector "${connector}" is unknown; try --connectors ${nearby}`
    : `no --connectors was given (and there is no connectors.json beside the flow), so connector "${connector}" is unknown; pass --connectors FILE`;
}

/** A secret file's path as the user can find it: relative to the connectors file's folder, shown from cwd. */
function secretFilePath(file: string, context: HintContext): string {
  if (context.connectorsFile === undefined) return file;
  const absolute = path.resolve(path.dirname(path.resolve(context.cwd, context.connectorsFile)), file);
  return path.relative(context.cwd, absolute) || absolute;
}

function causeHint(cause: FixableCause, context: HintContext): string {
  switch (cause.code) {
    case "secret-env-unset":
      return `set the environment variable ${cause.env}: connector "${cause.connector}" reads its ${cause.field} from it`;
    case "secret-file-unreadable":
      return `connector "${cause.connector}" reads its ${cause.field} from the file ${secretFilePath(cause.file, context)} (${cause.problem}); create it or fix the path in the connectors file`;
    case "loopback-http-not-allowed":
      return `${cause.subject} is plain http:// to this machine; add --allow-loopback-http to reach a local test server`;
  }
}

/** The hints `flowrun run` and `record` print under an activity whose failure a newcomer can fix. */
export function cliHints(context: HintContext): Hints {
  return (entry, result) => {
    const hints: string[] = [];
    const halted = result.status === "halted" && result.error?.activity === entry.activity;
    const connector = entry.type === "http-request" ? entry.connector : undefined;
    if (halted && result.reason === "connector-not-found" && typeof connector === "string") {
      const hint = connectorNotFoundHint(connector, context);
      if (hint) hints.push(hint);
    }
    const cause = httpTraceOf(entry)?.cause;
    if (cause) hints.push(causeHint(cause, context));
    return hints;
  };
}
