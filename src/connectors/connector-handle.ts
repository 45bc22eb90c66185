import type { Dispatcher } from "undici";
import type { Authorization, AuthorizeRequest, ConnectorHandle } from "../core/connector-seam.js";
import type { CompiledJsonPath } from "../core/json-paths.js";
import { countTokenUse, startTokenFetch } from "../core/telemetry.js";
import { type AuthSettings, basicAuthorization, fingerprint, obtainToken } from "./auth/strategies.js";
import type { TokenSet } from "./auth/token-set.js";
import { tokenExpiryCheck } from "./request-rules.js";
import type { TokenCache } from "./token-cache.js";

/** What identifies a connector to the activity, shared by profiles and handles. */
export type ConnectorIdentity = Pick<
  ConnectorHandle,
  "id" | "name" | "type" | "status" | "baseUrl" | "allowedMethods" | "propagateTraceContext"
>;

/** Everything the engine needs to authorise requests for one connector, secrets resolved. */
export interface ConnectorProfile extends ConnectorIdentity {
  readonly auth: AuthSettings;
  /** Statuses that mean "token expired" (default [401]). */
  readonly tokenExpiredStatuses: readonly number[];
  /** A JSON path; a response body where it selects a truthy value means "token expired" (APIs that answer 200). */
  readonly tokenExpiredWhen: CompiledJsonPath | undefined;
  /** Token lifetime when the server gives none (Salesforce: 15 min). */
  readonly defaultLifetimeSeconds: number;
  /** Salesforce: requests go to the token response's `instance_url`. */
  readonly baseUrlFromToken: boolean;
  /** Persists a refresh token the server rotated (RFC 6749 section 6), so the next process uses it too. */
  readonly onRefreshTokenRotated?: (refreshToken: string) => Promise<void> | void;
  /** The connector's own connections (its proxy, its client certificate); default: the engine's. */
  readonly dispatcher?: Dispatcher;
  /** Refuse token answers without token_type instead of taking them as Bearer. */
  readonly strictTokenType?: boolean;
  /** Errors of background refreshes, which no request waits for. */
  readonly onBackgroundError?: (error: unknown) => void;
}

const NO_OP = () => {};
const TOKEN_TYPE_ASSUMED: readonly string[] = ["token answer had no token_type, taken as Bearer"];
/** A proactive refresh belongs to no activity, so it gets its own time limit. */
const BACKGROUND_REFRESH_MS = 30_000;

/** Wraps a connector profile into the seam the http-request activity uses, sharing the engine's token cache. */
export function connectorHandle(profile: ConnectorProfile, cache: TokenCache): ConnectorHandle {
  let auth = profile.auth;
  const key = `${profile.id}:${fingerprint(auth)}`;
  const owner = `connector "${profile.name}"`;
  const configuredRefreshToken = auth.kind === "refresh-token" ? auth.refreshToken : undefined;

  /** `refreshToken`: a rotated one another process stored, used instead of the one this process knows. */
  const fetchToken = async (
    request: AuthorizeRequest & { requireTokenType: boolean },
    refreshToken?: string,
  ): Promise<TokenSet> => {
    if (auth.kind === "basic") throw new Error("basic auth has no token");
    const settings = auth.kind === "refresh-token" && refreshToken ? { ...auth, refreshToken } : auth;
    const telemetry = startTokenFetch(request.telemetry, {
      connectorId: profile.id,
      connectorType: profile.type,
      grant: settings.kind,
      tokenUrl: settings.tokenUrl,
    });
    let token: TokenSet;
    try {
      token = await obtainToken(settings, request, owner);
    } catch (error) {
      telemetry.ended(error);
      throw error;
    }
    telemetry.ended();
    if (
      settings.kind === "refresh-token" &&
      token.refreshToken &&
      token.refreshToken !== settings.refreshToken
    ) {
      auth = { ...settings, refreshToken: token.refreshToken };
      await profile.onRefreshTokenRotated?.(token.refreshToken);
    }
    return token;
  };

  return {
    id: profile.id,
    name: profile.name,
    type: profile.type,
    status: profile.status,
    baseUrl: profile.baseUrl,
    allowedMethods: profile.allowedMethods,
    propagateTraceContext: profile.propagateTraceContext,
    tokenExpired: tokenExpiryCheck(profile.tokenExpiredStatuses, profile.tokenExpiredWhen),
    async authorize(request): Promise<Authorization> {
      if (auth.kind === "basic") {
        return {
          headers: { authorization: basicAuthorization(auth.username, auth.password) },
          tokenFetched: false,
          tokenless: true,
          dispatcher: profile.dispatcher,
          invalidate: NO_OP,
        };
      }
      const { token, fetched } = await cache.use({
        key,
        connectorId: profile.id,
        defaultLifetimeSeconds: profile.defaultLifetimeSeconds,
        deadline: request.deadline,
        configuredRefreshToken,
        fetch: (background, refreshToken) => {
          // The fetch is shared by every caller waiting for this token (single flight), so it must not be tied
          // to the signal of the caller that happened to start it: that caller's run being cancelled would fail
          // all the other waiters with its reason. It keeps that caller's deadline as its own time limit; each
          // caller's signal only ends its own wait (TokenLookup.signal).
          const deadline = background ? performance.now() + BACKGROUND_REFRESH_MS : request.deadline;
          return fetchToken(
            {
              dispatcher: profile.dispatcher ?? request.dispatcher,
              signal: AbortSignal.timeout(Math.max(0, Math.ceil(deadline - performance.now()))),
              deadline,
              telemetry: request.telemetry,
              retryClock: request.retryClock,
              requireTokenType: profile.strictTokenType === true,
            },
            refreshToken,
          );
        },
        // Read only when the caller has to wait for a token: creating the caller's signal costs microseconds.
        get signal() {
          return request.signal;
        },
        onBackgroundError: profile.onBackgroundError,
      });
      countTokenUse(profile.type, fetched);
      return {
        headers: { authorization: `Bearer ${token.accessToken}` },
        baseUrl: profile.baseUrlFromToken ? token.instanceUrl : undefined,
        tokenFetched: fetched,
        dispatcher: profile.dispatcher,
        // A fixed shape on this per-request path: no spread of an optional property.
        notes: fetched && token.tokenTypeAssumed ? TOKEN_TYPE_ASSUMED : undefined,
        invalidate: () => cache.invalidate(key, token.accessToken),
      };
    },
  };
}
