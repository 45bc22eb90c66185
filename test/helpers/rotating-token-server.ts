import { setTimeout as sleep } from "node:timers/promises";
import { type Answer, oauthError, startTokenServer, type TokenServer, tokenAnswer } from "./token-server.js";

/** How the server treats the next refresh requests (each flag is used up by one request). */
export interface RotationFault {
  /** Answer only after this long (the token is rotated when the request arrives). */
  readonly delayMs?: number;
  /** Rotate, then destroy the connection without answering. */
  readonly dropAfterRotating?: boolean;
}

export interface RotatingTokenServer extends TokenServer {
  /** The generation of the refresh token the server accepts now (`<prefix>-<generation>`, starting at 1). */
  current(): number;
  /** Requests that presented a refresh token the server had already retired (each is a reuse). */
  readonly reuses: string[];
  /** Refresh tokens that were accepted, in order. */
  readonly spent: string[];
  /** Applies `fault` to the next refresh request. */
  fault(fault: RotationFault): void;
}

/**
 * A loopback token endpoint that rotates the refresh token on every use and refuses a spent one with
 * `invalid_grant`, as Webex, Okta, Auth0 and Cognito do (RFC 6749 section 6; RFC 9700 section 4.14.2). It counts
 * every reuse of a retired token: a correct client never presents one.
 *
 * `graceMs`: a retired token presented once within this long of its rotation is honoured with the current tokens
 * (Okta's and Auth0's reuse interval), which is what lets a client that lost the answer recover. Default 0.
 */
export async function startRotatingTokenServer(
  options: { prefix?: string; lifetimeSeconds?: number; graceMs?: number } = {},
): Promise<RotatingTokenServer> {
  const prefix = options.prefix ?? "rt";
  const lifetime = options.lifetimeSeconds ?? 3600;
  let generation = 1;
  const retiredAt = new Map<string, number>();
  const graceUsed = new Set<string>();
  const reuses: string[] = [];
  const spent: string[] = [];
  const faults: RotationFault[] = [];
  const issued = (): Answer =>
    tokenAnswer({
      access_token: `access-${generation - 1}`,
      expires_in: lifetime,
      refresh_token: `${prefix}-${generation}`,
    });
  const server = await startTokenServer({
    fallback: async (request) => {
      const presented = request.form.refresh_token ?? "";
      const fault = faults.shift() ?? {};
      if (presented !== `${prefix}-${generation}`) {
        const retired = retiredAt.get(presented);
        const inGrace =
          retired !== undefined &&
          performance.now() - retired <= (options.graceMs ?? 0) &&
          !graceUsed.has(presented);
        if (inGrace) {
          graceUsed.add(presented);
          return issued();
        }
        if (retired !== undefined) reuses.push(presented);
        return oauthError("invalid_grant", "refresh token is not current");
      }
      spent.push(presented);
      retiredAt.set(presented, performance.now());
      generation++;
      if (fault.delayMs !== undefined) await sleep(fault.delayMs);
      if (fault.dropAfterRotating) return { destroy: true };
      return issued();
    },
  });
  return Object.assign(server, {
    current: () => generation,
    reuses,
    spent,
    fault: (fault: RotationFault) => void faults.push(fault),
  });
}
