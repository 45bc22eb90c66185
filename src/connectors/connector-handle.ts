import type { Dispatcher } from "undici";
import { BACKGROUND_LIMIT_MS } from "../core/budget.js";
import type { Authorization, AuthorizeRequest, ConnectorHandle } from "../core/connector-seam.js";
import type { CompiledJsonPath } from "../core/json-paths.js";
import { countTokenUse, startTokenFetch } from "../core/telemetry.js";
import {
  type AuthSettings,
  fingerprint,
  fixedCredentialsOf,
  isTokenless,
  obtainToken,
  tokenlessHeaders,
} from "./auth/strategies.js";
import type { TokenSet } from "./auth/token-set.js";
import { AuthError } from "./errors.js";
import { type HeldRefreshToken, newerRefreshToken } from "./refresh-chain.js";
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
  readonly onRefreshTokenRotated?: (rotated: HeldRefreshToken) => Promise<void> | void;
  /** Generation of the configured refresh token (0 unless the store kept one with it). */
  readonly refreshTokenGeneration?: number;
  /** The refresh token the store holds now (another process may have rotated it), read after an `invalid_grant`. */
  readonly storedRefreshToken?: () => Promise<HeldRefreshToken | undefined>;
  /** The connector's own connections (its proxy, its client certificate); default: the engine's. */
  readonly dispatcher?: Dispatcher;
  /** Refuse token answers without token_type instead of taking them as Bearer. */
  readonly strictTokenType?: boolean;
  /** Errors of background refreshes, which no request waits for. */
  readonly onBackgroundError?: (error: unknown) => void;
}

const NO_OP = () => {};
const TOKEN_TYPE_ASSUMED: readonly string[] = ["token answer had no token_type, taken as Bearer"];
/**
 * A refresh-token request, once sent, is never abandoned for a run's deadline or signal: the server may rotate the
 * token whatever the client does, and only the answer carries the new one. It runs to this limit of its own
 * (shorter than the fleet's refresh lease, see src/connectors/redis/shared-tokens.ts) and whatever it returns is
 * kept; a run that cannot wait takes its error branch, the next run uses the new token.
 */
export const REFRESH_LIMIT_MS = 10_000;

function isInvalidGrant(error: unknown): error is AuthError {
  return error instanceof AuthError && error.code === "invalid-grant";
}

/**
 * Token requests for one connector. For a refresh-token grant it holds the newest refresh token this process knows
 * and its generation: a rotation makes the next generation the held one.
 */
function tokenFetcher(profile: ConnectorProfile, owner: string) {
  const auth = profile.auth;
  let held: HeldRefreshToken | undefined =
    auth.kind === "refresh-token"
      ? { refreshToken: auth.refreshToken, generation: profile.refreshTokenGeneration ?? 0 }
      : undefined;

  const sendOnce = async (
    request: AuthorizeRequest & { requireTokenType: boolean },
    using: HeldRefreshToken | undefined,
  ): Promise<TokenSet> => {
    if (isTokenless(auth)) throw new Error(`${auth.kind} auth has no token`);
    const settings =
      auth.kind === "refresh-token" && using ? { ...auth, refreshToken: using.refreshToken } : auth;
    const telemetry = startTokenFetch(request.telemetry, {
      connectorId: profile.id,
      connectorType: profile.type,
      grant: settings.kind,
      tokenUrl: settings.tokenUrl,
    });
    let token: TokenSet;
    try {
      token = await obtainToken(settings, { ...request, traceContext: telemetry.context }, owner);
    } catch (error) {
      telemetry.ended(error);
      throw error;
    }
    telemetry.ended();
    if (using && token.refreshToken && token.refreshToken !== using.refreshToken) {
      const rotated = { refreshToken: token.refreshToken, generation: using.generation + 1 };
      held = newerRefreshToken(rotated, held);
      await profile.onRefreshTokenRotated?.(rotated);
    }
    return token;
  };

  return {
    held: (): HeldRefreshToken | undefined => held,
    /**
     * `supplied`: a newer refresh token another process stored. On `invalid_grant` the store is read again:
     * another process may have rotated the token meanwhile, and its newer generation is tried once before the
     * refusal stands.
     */
    async fetch(
      request: AuthorizeRequest & { requireTokenType: boolean },
      supplied?: HeldRefreshToken,
    ): Promise<TokenSet> {
      const using = held && newerRefreshToken(held, supplied);
      try {
        return await sendOnce(request, using);
      } catch (error) {
        const stored = using && isInvalidGrant(error) ? await profile.storedRefreshToken?.() : undefined;
        if (!using || !stored || stored.generation <= using.generation) throw error;
        held = newerRefreshToken(stored, held);
        return sendOnce(request, stored);
      }
    },
  };
}

/** Wraps a connector profile into the seam the http-request activity uses, sharing the engine's token cache. */
export function connectorHandle(profile: ConnectorProfile, cache: TokenCache): ConnectorHandle {
  const auth = profile.auth;
  const key = `${profile.id}:${fingerprint(auth)}`;
  const owner = `connector "${profile.name}"`;
  const configuredRefreshToken = auth.kind === "refresh-token" ? auth.refreshToken : undefined;
  const tokens = tokenFetcher(profile, owner);
  const refreshing = configuredRefreshToken !== undefined;

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
      if (isTokenless(auth)) {
        return {
          headers: tokenlessHeaders(auth),
          tokenFetched: false,
          fixedCredentials: fixedCredentialsOf(auth),
          dispatcher: profile.dispatcher,
          invalidate: NO_OP,
        };
      }
      // One limit for everything a refresh flight sends, a retry with a newer token included: the fleet's lease
      // outlasts REFRESH_LIMIT_MS once, not twice (docs/decisions.md, the fencing argument).
      let refreshDeadline: number | undefined;
      const { token, fetched } = await cache.use({
        key,
        connectorId: profile.id,
        defaultLifetimeSeconds: profile.defaultLifetimeSeconds,
        budget: request.budget,
        configuredRefreshToken,
        held: refreshing ? tokens.held : undefined,
        detached: refreshing,
        owner,
        fetch: (background, refreshToken) => {
          // The fetch is shared by every caller waiting for this token (single flight), so it must not be tied
          // to the signal of the caller that happened to start it: that caller's run being cancelled would fail
          // all the other waiters with its reason. It keeps that caller's deadline as its own time limit (a
          // refresh-token request its own, REFRESH_LIMIT_MS); each caller's budget only ends its own wait.
          if (refreshing) refreshDeadline ??= performance.now() + REFRESH_LIMIT_MS;
          const deadline =
            refreshDeadline ??
            (background ? performance.now() + BACKGROUND_LIMIT_MS : request.budget.deadline);
          const budget = request.budget.detached(deadline);
          return tokens
            .fetch(
              {
                dispatcher: profile.dispatcher ?? request.dispatcher,
                budget,
                telemetry: request.telemetry,
                requireTokenType: profile.strictTokenType === true,
              },
              refreshToken,
            )
            .finally(() => budget.release());
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
