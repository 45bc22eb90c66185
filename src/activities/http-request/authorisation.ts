import type { Budget } from "../../core/budget.js";
import { isAbortError } from "../../core/budget.js";
import type { Authorization, AuthorizeRequest, ConnectorHandle } from "../../core/connector-seam.js";
import { EgressDeniedError } from "../../core/egress-rules.js";
import { fixableCauseOf } from "../../core/errors.js";
import type { RunContext, StepResult } from "../../engine/activity.js";
import type { CredentialState, HttpTrace } from "../../engine/result.js";
import { HttpRequestError } from "./activity-error.js";

/** The halt a missing or inactive connector causes (routing stops), or the connector to use. */
export function connectorOrHalt(
  authenticated: boolean,
  connectorName: string | undefined,
  ctx: RunContext,
): { connector: ConnectorHandle | undefined } | { halt: StepResult } {
  if (!authenticated) return { connector: undefined };
  const name = connectorName ?? "";
  const connector = ctx.services.connectors?.resolve(name);
  if (!connector) {
    return {
      halt: {
        outcome: null,
        halt: {
          reason: "connector-not-found",
          message: `connector "${name}" used by activity "${ctx.activityId}" is not defined; routing stops`,
        },
        details: { connector: name },
      },
    };
  }
  if (connector.status !== "active") {
    return {
      halt: {
        outcome: null,
        halt: {
          reason: "connector-inactive",
          message: `connector "${connector.name}" used by activity "${ctx.activityId}" is inactive; routing stops`,
        },
        details: { connector: connector.name },
      },
    };
  }
  return { connector };
}

/** The credential step's trace word for an authorisation that succeeded. */
function credentialState(authorization: Authorization, refreshing: boolean): CredentialState {
  if (authorization.fixedCredentials) return authorization.fixedCredentials;
  if (refreshing) return "refreshed";
  return authorization.tokenFetched ? "fetched" : "cached";
}

/** What the connector is asked with: the engine's dispatcher and the activity's budget. */
function authorizeRequest(ctx: RunContext, budget: Budget): AuthorizeRequest {
  const { dispatcher } = ctx.services.http;
  // The budget makes its signal only when a caller has to wait (a token not in the cache).
  const request: { -readonly [K in keyof AuthorizeRequest]: AuthorizeRequest[K] } = { dispatcher, budget };
  // Only when there is telemetry: one more property costs every in-flight run ~200 bytes (bench heap figure).
  if (ctx.telemetry) request.telemetry = ctx.telemetry;
  return request;
}

/**
 * The connector's credentials for the next attempt, recorded in the trace. Failures become the activity's
 * errors: `egress-denied`, `timeout` (the budget ended first) or `auth`.
 */
export async function authorizeAttempt(
  handle: ConnectorHandle,
  refreshing: boolean,
  ctx: RunContext,
  budget: Budget,
  trace: HttpTrace,
): Promise<Authorization> {
  let authorization: Authorization;
  try {
    authorization = await handle.authorize(authorizeRequest(ctx, budget));
  } catch (error) {
    if (error instanceof EgressDeniedError) {
      trace.credentials = "failed";
      throw new HttpRequestError("egress-denied", `connector "${handle.name}": ${error.message}`);
    }
    if (budget.expired || isAbortError(error)) {
      trace.credentials = "timeout";
      throw new HttpRequestError(
        "timeout",
        `connector "${handle.name}" was not authorised before the deadline`,
      );
    }
    trace.credentials = "failed";
    trace.cause = fixableCauseOf(error);
    const message = error instanceof Error ? error.message : String(error);
    throw new HttpRequestError("auth", `connector "${handle.name}": ${message}`);
  }
  if (authorization.tokenFetched) trace.tokenFetched = true;
  if (authorization.notes?.length) trace.notes = [...(trace.notes ?? []), ...authorization.notes];
  trace.credentials = credentialState(authorization, refreshing);
  return authorization;
}
