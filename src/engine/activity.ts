import type { z } from "zod";
import type { PathSegment } from "../core/json-path.js";
import type { RunTelemetry } from "../core/telemetry.js";
import type { CompiledExpression, CompiledTemplate, Scope } from "./expressions.js";
import type { CallAction, CallHandlers } from "./host.js";
import type { TraceDetails } from "./result.js";
import type { EngineServices } from "./services.js";
import type { VariableType } from "./variables.js";

export interface VariableDeclaration {
  type: VariableType;
  default?: unknown;
  description?: string;
}

/** What an activity sees while its flow is compiled. Problems are collected, never thrown. */
export interface CompileContext<Services = EngineServices> {
  readonly activityId: string;
  readonly variables: ReadonlyMap<string, VariableDeclaration>;
  readonly services: Services;
  /** Notes that the activity sets this variable, for the check of variables read but never set. */
  assigns(variable: string): void;
  /** Reports a problem at a location relative to the activity (`["parseSettings", 0, "pathExpression"]`). */
  problem(at: readonly PathSegment[], message: string, severity?: "error" | "warning"): void;
  /** Parses a template; on a syntax error reports it and returns a template that renders "". */
  template(at: readonly PathSegment[], source: string): CompiledTemplate;
  /** Parses a template whose single `{{ expr }}` keeps its type. */
  valueTemplate(at: readonly PathSegment[], source: string): CompiledExpression;
  expression(at: readonly PathSegment[], source: string): CompiledExpression;
}

/** What an activity sees while it runs. */
export interface RunContext<Services = EngineServices> {
  readonly activityId: string;
  readonly scope: Scope;
  /** Fires when the host aborts the run or its deadline passes. */
  readonly signal: AbortSignal | undefined;
  readonly handlers: CallHandlers;
  readonly services: Services;
  /** The run's OpenTelemetry span and instruments; undefined when the host registered no provider. */
  readonly telemetry?: RunTelemetry;
  /** Coerces `value` to the variable's declared type and assigns it; throws CoercionError. */
  assign(variable: string, value: unknown, source: string): void;
  /** Checks and converts without assigning, so that an activity can assign several values all or nothing. */
  coerceFor(variable: string, value: unknown, source: string): unknown;
  /** Assigns a value that `coerceFor` already converted. */
  assignCoerced(variable: string, value: unknown): void;
  record(action: CallAction): void;
}

export interface StepResult {
  /** The outcome taken; null for an activity that ends the run. */
  outcome: string | null;
  /** Stored under the activity id in the scope (`lookup.statusCode`). */
  outputs?: Record<string, unknown>;
  error?: { kind: string; message: string };
  /** Merged into the trace entry (src/engine/result.ts declares each type's). */
  details?: TraceDetails;
  /** The run ends `completed` after this activity. */
  end?: boolean;
  /** The run ends `halted`: routing stops and no outcome is taken. */
  halt?: { reason: "connector-inactive" | "connector-not-found"; message: string };
}

/**
 * One activity type. `resolve` is pure: it evaluates the compiled templates against the scope and returns what
 * the activity is about to do. `perform` carries it out (assignments, call effects, HTTP).
 */
export interface ActivityDefinition<
  Def extends { type: string } = { type: string },
  Compiled = unknown,
  Resolved = unknown,
  /** What a flow author writes (the schema's input: defaults not yet applied). */
  Input = unknown,
> {
  readonly type: Def["type"];
  readonly schema: z.ZodType<Def, Input>;
  /** Outcomes that fall back to the flow's `onError` when they have no link. */
  readonly errorOutcomes: readonly string[];
  /** Every outcome this activity can take; empty for activities that end the run. */
  outcomes(def: Def): readonly string[];
  /** Outcome -> activity id; defaults to `def.next`. */
  links?(def: Def): Record<string, string>;
  compile(def: Def, ctx: CompileContext): Compiled;
  resolve(compiled: Compiled, ctx: RunContext): Resolved;
  perform(resolved: Resolved, ctx: RunContext): StepResult | Promise<StepResult>;
}

/** Identity helper that keeps the generic parameters of an activity definition inferred. */
export function defineActivity<Def extends { type: string }, Compiled, Resolved, Input>(
  definition: ActivityDefinition<Def, Compiled, Resolved, Input>,
): ActivityDefinition<Def, Compiled, Resolved, Input> {
  return definition;
}
