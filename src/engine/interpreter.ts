import type { Context } from "@opentelemetry/api";
import { FlowrunError } from "../core/errors.js";
import { checkValueDepth, type Limits } from "../core/limits.js";
import { type RunTelemetry, startRunTelemetry } from "../core/telemetry.js";
import type { RunContext, StepResult } from "./activity.js";
import type { CompiledActivity, FlowPlan } from "./compiler.js";
import { Scope } from "./expressions.js";
import type { CallAction, CallHandlers } from "./host.js";
import type { RunError, RunReason, RunResult, RunStatus, TraceEntry } from "./result.js";
import type { RunAbort, RunAborts } from "./run-aborts.js";
import type { EngineServices } from "./services.js";
import { coerce } from "./variables.js";

/** The caller of a run: `id`, `ani`, `dnis`, `channel` and any extra fields the host supplies. */
export interface Contact {
  id?: string;
  ani?: string;
  dnis?: string;
  channel?: string;
  [field: string]: unknown;
}

export interface RunOptions {
  contact?: Contact;
  /** Initial values, converted to the declared types. An undeclared name is an error. */
  variables?: Record<string, unknown>;
  /** Aborting ends the run `aborted` (reason `aborted`). */
  signal?: AbortSignal;
  /** Run deadline in milliseconds from the start; passing it ends the run `aborted` (reason `deadline`). */
  deadlineMs?: number;
  /** Call-effect handlers for this run; default: the engine's. */
  handlers?: CallHandlers;
  /**
   * The OpenTelemetry context the run's `flowrun.run` span is a child of (docs/telemetry.md); default the active
   * context. Lets a host without a context manager put the run into its call's trace.
   */
  traceContext?: Context;
}

const ABORTED = Symbol("aborted");

/** Resolves with ABORTED as soon as the signal fires, so that a slow handler cannot hold an aborted run. */
function untilSettledOrAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T | typeof ABORTED> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

class ActivityRunContext implements RunContext {
  activityId = "";
  readonly actions: CallAction[] = [];
  telemetry: RunTelemetry | undefined;
  readonly limits: Limits;
  readonly scope: Scope;
  constructor(
    private readonly plan: FlowPlan,
    readonly signal: AbortSignal | undefined,
    readonly handlers: CallHandlers,
    readonly services: EngineServices,
  ) {
    this.limits = services.limits;
    this.scope = new Scope(this.limits);
  }
  coerceFor(variable: string, value: unknown, source: string): unknown {
    const declaration = this.plan.variables.get(variable);
    if (!declaration)
      throw new FlowrunError("unknown-variable", `variable "${variable}" is not declared (from ${source})`);
    const coerced = coerce(value, declaration.type, variable, source);
    if (coerced !== null && typeof coerced === "object")
      checkValueDepth(
        coerced,
        this.limits.valueDepth,
        `the value for variable "${variable}" (from ${source})`,
      );
    return coerced;
  }
  assignCoerced(variable: string, value: unknown): void {
    this.scope.values[variable] = value;
  }
  assign(variable: string, value: unknown, source: string): void {
    this.scope.values[variable] = this.coerceFor(variable, value, source);
  }
  record(action: CallAction): void {
    this.actions.push(action);
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function asStepFailure(error: unknown): StepResult {
  const failure =
    error instanceof FlowrunError
      ? { kind: error.code, message: error.message }
      : { kind: "internal", message: error instanceof Error ? error.message : String(error) };
  return { outcome: "error", error: failure, outputs: { error: failure } };
}

/** A limit hit inside an activity is reported with the activity's name: the flow's author must find the cause. */
function namingActivity(step: StepResult, activity: string): StepResult {
  const failure = { kind: "limit-exceeded", message: `activity "${activity}": ${step.error!.message}` };
  return { ...step, error: failure, outputs: { ...step.outputs, error: failure } };
}

/** Declared defaults, then the run's inputs (converted to their declared types), then the contact. */
function seedScope(plan: FlowPlan, ctx: ActivityRunContext, options: RunOptions): void {
  const values = ctx.scope.values;
  for (const name of plan.variables.keys()) values[name] = plan.defaults[name];
  for (const [name, value] of Object.entries(options.variables ?? {})) {
    if (!plan.variables.has(name)) {
      throw new FlowrunError("unknown-variable", `run input sets undeclared variable "${name}"`);
    }
    ctx.assign(name, value, "run input");
  }
  values.contact = { ...options.contact };
}

/**
 * Runs a compiled flow once. Never rejects for anything a flow does; rejects only for invalid run options.
 * `engineState` belongs to the engine instance (no process-global state in an embeddable engine).
 */
export function runPlan(
  plan: FlowPlan,
  services: EngineServices,
  handlers: CallHandlers,
  options: RunOptions,
  engineState: EngineRunState,
): Promise<RunResult> {
  const abort = engineState.aborts.open(options.signal, options.deadlineMs);
  const running = runSteps(plan, services, handlers, options, engineState.timestamps, abort);
  // Whatever the ending (even a rejection for invalid run options), nothing of the run stays on the host's signal.
  return abort === undefined ? running : running.finally(() => abort.release());
}

/** What the runs of one engine share: trace timestamps and the fan-out of host signals. */
export interface EngineRunState {
  readonly timestamps: TraceTimestamps;
  readonly aborts: RunAborts;
}

async function runSteps(
  plan: FlowPlan,
  services: EngineServices,
  handlers: CallHandlers,
  options: RunOptions,
  timestamps: TraceTimestamps,
  abort: RunAbort | undefined,
): Promise<RunResult> {
  const signal = abort?.signal;
  const ctx = new ActivityRunContext(plan, signal, handlers, services);
  const values = ctx.scope.values;
  seedScope(plan, ctx, options);
  const telemetry = startRunTelemetry(plan.name, options.traceContext);
  ctx.telemetry = telemetry;
  const path: string[] = [];
  const trace: TraceEntry[] = [];
  const finish = (status: RunStatus, reason: RunReason | null, error?: RunError): RunResult => {
    const variables: Record<string, unknown> = {};
    for (const name of plan.variables.keys()) variables[name] = values[name];
    const result: RunResult = {
      status,
      reason,
      endedAt: path.length > 0 ? path[path.length - 1]! : null,
      path,
      variables,
      actions: ctx.actions,
      trace,
    };
    if (error) result.error = error;
    telemetry?.ended(result);
    return result;
  };
  const aborted = (activity: string | null) => {
    const byDeadline = abort?.byDeadline === true;
    return finish("aborted", byDeadline ? "deadline" : "aborted", {
      activity,
      kind: byDeadline ? "deadline" : "aborted",
      message: byDeadline ? `run deadline of ${options.deadlineMs} ms passed` : "run aborted by the host",
    });
  };

  let current: CompiledActivity = plan.start;
  for (let steps = 1; ; steps++) {
    if (abort?.ended()) return aborted(path.length > 0 ? path[path.length - 1]! : null);
    if (steps > services.maxSteps) {
      return finish("failed", "step-limit", {
        activity: current.id,
        kind: "step-limit",
        message: `run executed ${services.maxSteps} activities without ending (loop protection); next was "${current.id}"`,
      });
    }
    path.push(current.id);
    ctx.activityId = current.id;
    const started = performance.now();
    const startedAt = Math.floor(TIME_ORIGIN + started);
    let step: StepResult;
    try {
      const resolved = current.definition.resolve(current.compiled, ctx);
      const performed = current.definition.perform(resolved, ctx);
      if (isPromise(performed)) {
        const settled = await untilSettledOrAborted(performed, signal);
        if (settled === ABORTED) {
          const entry = traceEntry(timestamps, current, null, startedAt, started, {
            error: { kind: "aborted", message: "run aborted" },
          });
          trace.push(entry);
          telemetry?.activityEnded(entry.type, "aborted", entry.durationMs);
          return aborted(current.id);
        }
        step = settled;
      } else step = performed;
    } catch (error) {
      step = asStepFailure(error);
    }
    if (step.error?.kind === "limit-exceeded") step = namingActivity(step, current.id);
    if (step.outputs) values[current.id] = step.outputs;
    const entry = traceEntry(timestamps, current, step, startedAt, started);
    trace.push(entry);
    telemetry?.activityEnded(entry.type, entry.outcome, entry.durationMs);
    if (step.halt)
      return finish("halted", step.halt.reason, {
        activity: current.id,
        kind: step.halt.reason,
        message: step.halt.message,
      });
    // A run whose last activity overran the deadline is aborted, never `completed` late.
    if (step.end) return abort?.ended() ? aborted(current.id) : finish("completed", null);
    const outcome = step.outcome ?? "default";
    const next = current.links.get(outcome) ?? (isThrownFailure(step, current) ? plan.onError : undefined);
    if (!next) {
      const why = step.error ? `: ${step.error.kind}: ${step.error.message}` : "";
      return finish("failed", "unhandled-outcome", {
        activity: current.id,
        kind: step.error?.kind ?? "unhandled-outcome",
        message: `outcome "${outcome}" of activity "${current.id}" has no link${why}`,
      });
    }
    current = next;
  }
}

/** A failure thrown by an activity that has no `error` outcome of its own still goes to the flow's onError. */
function isThrownFailure(step: StepResult, activity: CompiledActivity): boolean {
  return (
    step.outcome === "error" &&
    step.error !== undefined &&
    !activity.definition.errorOutcomes.includes("error")
  );
}

/** Read once: `performance.timeOrigin` is a getter that costs more than the arithmetic it feeds. */
const TIME_ORIGIN = performance.timeOrigin;

/** "000" to "999": the milliseconds of an ISO time. */
const MILLISECONDS = Array.from({ length: 1000 }, (_, ms) => String(ms).padStart(3, "0"));

/**
 * ISO times of trace entries; activities of one millisecond share the string, and `Date` formats only once a
 * second (the milliseconds are appended). One per engine.
 */
export class TraceTimestamps {
  private lastMs = Number.NaN;
  private last = "";
  private second = Number.NaN;
  /** `2026-01-31T12:34:56.` of `second`. */
  private secondPrefix = "";
  iso(epochMs: number): string {
    if (epochMs !== this.lastMs) {
      const milliseconds = ((epochMs % 1000) + 1000) % 1000;
      const second = epochMs - milliseconds;
      if (second !== this.second) {
        this.second = second;
        this.secondPrefix = new Date(second).toISOString().slice(0, -4);
      }
      this.lastMs = epochMs;
      this.last = `${this.secondPrefix}${MILLISECONDS[milliseconds]}Z`;
    }
    return this.last;
  }
}

function traceEntry(
  timestamps: TraceTimestamps,
  activity: CompiledActivity,
  step: StepResult | null,
  startedAt: number,
  started: number,
  extra?: Pick<TraceEntry, "error">,
): TraceEntry {
  // The activity's type names its entry's shape; its step's details are the ones that type declares.
  const entry = {
    activity: activity.id,
    type: activity.type as TraceEntry["type"],
    outcome: step?.outcome ?? null,
    startedAt: timestamps.iso(startedAt),
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
  } as TraceEntry;
  if (step?.error) entry.error = step.error;
  if (step?.details) Object.assign(entry, step.details);
  if (extra) Object.assign(entry, extra);
  return entry;
}
