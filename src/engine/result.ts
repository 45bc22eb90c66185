import type { FixableCause } from "../core/errors.js";
import type { HttpMethod } from "../core/http-types.js";
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

/**
 * What the connector's credential step did for an http-request activity (absent without a connector):
 * `not-requested` the activity ended before asking (invalid request, method not allowed); `basic` fixed
 * credentials (Basic auth), no token; `key` a fixed key in a header, no token; `cached` a cached token;
 * `fetched` a token from the token endpoint; `refreshed` the API rejected the token as expired and a new one was
 * fetched; `failed` no credentials (the error says why: a secret, the token endpoint, ...); `timeout` the deadline
 * passed while waiting for a token.
 */
export type CredentialState =
  | "not-requested"
  | "basic"
  | "key"
  | "cached"
  | "fetched"
  | "refreshed"
  | "failed"
  | "timeout";

/** The `http` detail of an http-request trace entry: the request as sent, secrets redacted. Declared only here. */
export interface HttpTrace {
  method: HttpMethod;
  /** Null when no URL was built (the activity failed before). */
  url: string | null;
  /** Null when no response arrived. */
  status: number | null;
  requestHeaders: Record<string, string>;
  /** Requests sent (an egress refusal before connecting is not one). */
  attempts: number;
  /** Whether a token was fetched from the token endpoint (authenticated endpoints only). */
  tokenFetched?: boolean;
  /** The connector's credential step (authenticated endpoints only). */
  credentials?: CredentialState;
  /** What the connector noted while authorising, e.g. a token answer without token_type taken as Bearer. */
  notes?: string[];
  /**
   * The start of a refused response's body (the activity failed with `http-status`), every secret the engine
   * knows scrubbed, so that the reader sees the API's own error without the flow storing the body.
   */
  responseExcerpt?: string;
  /** A cause of the failure the person running the flow can fix (an unset secret variable, ...). */
  cause?: FixableCause;
}

/** What every trace entry has. */
export interface TraceEntryBase {
  activity: string;
  outcome: string | null;
  startedAt: string;
  durationMs: number;
  /** Assignments made by the activity, as `{ variable: value }`. */
  assignments?: Record<string, unknown>;
  /** Variables whose JSON path matched nothing in the response (they got their default or null), with the path. */
  unmatchedPaths?: Record<string, string>;
  error?: { kind: string; message: string };
}

/** One executed activity, with the details its type reports. Narrow on `type` before reading them. */
export type TraceEntry =
  | (TraceEntryBase & {
      type: "http-request";
      /** Absent when the run halted before the request (an inactive or unknown connector). */
      http?: HttpTrace;
      /** The connector named, when the run halted on it. */
      connector?: string;
    })
  | (TraceEntryBase & { type: "play-message"; prompt?: string })
  | (TraceEntryBase & { type: "menu"; prompt?: string; input?: string | null })
  | (TraceEntryBase & { type: "queue-contact"; queue?: string })
  | (TraceEntryBase & { type: "blind-transfer"; destination?: string })
  | (TraceEntryBase & { type: "case"; value?: unknown })
  | (TraceEntryBase & {
      type: "set-variable" | "parse" | "condition" | "end-flow" | "disconnect-contact";
    });

/** The `http` detail of an entry, when it is an http-request's (absent when it halted before the request). */
export function httpTraceOf(entry: TraceEntry): HttpTrace | undefined {
  return entry.type === "http-request" ? entry.http : undefined;
}

/** The activity types with trace entries of their own shape. */
export type TraceEntryType = TraceEntry["type"];

/** The details an activity's step adds to its trace entry (the keys of every type's entry, all optional). */
export interface TraceDetails {
  assignments?: Record<string, unknown>;
  unmatchedPaths?: Record<string, string>;
  http?: HttpTrace;
  connector?: string;
  prompt?: string;
  input?: string | null;
  queue?: string;
  destination?: string;
  value?: unknown;
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
