import type { CallAction } from "./host.js";

export type RunStatus = "completed" | "halted" | "failed" | "aborted";

/** Why a run ended other than by completing. */
export type RunReason =
  | "unhandled-outcome"
  | "step-limit"
  | "connector-inactive"
  | "connector-not-found"
  | "aborted"
  | "deadline";

export interface TraceEntry {
  activity: string;
  type: string;
  outcome: string | null;
  startedAt: string;
  durationMs: number;
  /** Assignments made by the activity, as `{ variable: value }`. */
  assignments?: Record<string, unknown>;
  error?: { kind: string; message: string };
  /** Activity-specific details (for http-request: the request as sent, secrets redacted). */
  [detail: string]: unknown;
}

export interface RunError {
  activity: string | null;
  kind: string;
  message: string;
}

export interface RunResult {
  status: RunStatus;
  reason: RunReason | null;
  /** The last activity executed. */
  endedAt: string | null;
  path: string[];
  variables: Record<string, unknown>;
  actions: CallAction[];
  trace: TraceEntry[];
  /** Why the run failed, halted or was aborted, in words. */
  error?: RunError;
}
