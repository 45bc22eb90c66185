export type {
  ActivityDefinition,
  CompileContext,
  RunContext,
  StepResult,
  VariableDeclaration,
} from "./engine/activity.js";
export { defineActivity } from "./engine/activity.js";
export type { CompiledFlow, CompileOptions, Engine, EngineOptions } from "./engine/engine.js";
export { createEngine } from "./engine/engine.js";
export { FlowrunError, type Problem, ValidationError } from "./engine/errors.js";
export type {
  BlindTransferAction,
  CallAction,
  CallHandlers,
  DisconnectContactAction,
  MenuAction,
  PlayMessageAction,
  QueueContactAction,
} from "./engine/host.js";
export { scriptedHandlers } from "./engine/host.js";
export type { Contact, RunOptions } from "./engine/interpreter.js";
export { JsonSourceError, readJsonFile } from "./engine/json-source.js";
export type { RunError, RunReason, RunResult, RunStatus, TraceEntry } from "./engine/result.js";
export { CoercionError, VARIABLE_TYPES, type VariableType } from "./engine/variables.js";
