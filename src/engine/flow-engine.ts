import { type Problem, ValidationError } from "../core/errors.js";
import type { SecretScrubber } from "../core/scrubber.js";
import type { ActivityDefinition } from "./activity.js";
import { compileFlow, type FlowPlan } from "./compiler.js";
import type { CallHandlers } from "./host.js";
import { type EngineRunState, type RunOptions, runPlan, TraceTimestamps } from "./interpreter.js";
import type { RunResult } from "./result.js";
import { RunAborts } from "./run-aborts.js";
import type { EngineServices } from "./services.js";

export interface CompileOptions {
  /** Where the document came from (a file name), for messages. */
  source?: string;
}

export interface CompiledFlow {
  readonly name: string;
  readonly description: string | undefined;
  /** Problems that do not stop the flow from running (unreachable activities). */
  readonly warnings: readonly Problem[];
  run(options?: RunOptions): Promise<RunResult>;
}

export interface Engine {
  /** Validates and compiles a flow document; throws a ValidationError listing every problem. */
  compile(document: unknown, options?: CompileOptions): CompiledFlow;
  /** Every problem in a flow document (errors and warnings), without throwing. */
  validate(document: unknown, options?: CompileOptions): Problem[];
  /** Releases pooled connections and timers. */
  close(): Promise<void>;
  /**
   * The secrets this engine has seen (connector secrets as resolved, tokens as issued) and the one way to remove
   * them from anything shown: a host scrubs its logs with it as the CLI scrubs every output.
   */
  readonly scrubber: SecretScrubber;
}

/** What the composition root (src/runtime/) hands the generic engine: it knows no activity and no connector type. */
export interface FlowEngineParts {
  readonly activities: readonly ActivityDefinition[];
  readonly services: EngineServices;
  /** Default call-effect handlers for every run (a run may pass its own). */
  readonly handlers: CallHandlers;
  /** Releases what the composition root opened for this engine. */
  readonly close: () => Promise<void>;
}

export function createFlowEngine(parts: FlowEngineParts): Engine {
  const activities = new Map<string, ActivityDefinition>(
    parts.activities.map((activity) => [activity.type, activity]),
  );
  const { services, handlers } = parts;
  const scrubber = services.scrubber;
  const runState: EngineRunState = { timestamps: new TraceTimestamps(), aborts: new RunAborts() };
  const compile = (document: unknown, compileOptions: CompileOptions = {}): CompiledFlow => {
    const plan: FlowPlan = compileFlow(document, activities, services, compileOptions.source);
    return {
      name: plan.name,
      description: plan.description,
      warnings: plan.warnings,
      run: (runOptions = {}) =>
        runPlan(plan, services, runOptions.handlers ?? handlers, runOptions, runState),
    };
  };
  return {
    scrubber,
    compile,
    validate(document, compileOptions) {
      try {
        return [...compile(document, compileOptions).warnings];
      } catch (error) {
        if (error instanceof ValidationError) return [...error.problems];
        throw error;
      }
    },
    close: parts.close,
  };
}
