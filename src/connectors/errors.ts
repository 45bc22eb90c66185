import { type FixableCause, FlowrunError, type Problem, problemListMessage } from "../core/errors.js";

/**
 * Why the connector registry refused an operation. Each code names one registry rule, so programs can react to it
 * and the message can say which rule refused.
 */
export type ConnectorErrorCode =
  | "connector-limit"
  | "name-taken"
  | "edit-while-active"
  | "delete-while-active"
  | "ccai-in-use"
  | "forbidden-role"
  | "insecure-url"
  | "immutable-field"
  | "not-found"
  | "invalid-connector"
  | "connectivity-failed"
  | "secret-unresolved"
  | "concurrent-change"
  | "store-locked"
  | "connectors-file"
  | "connectors-store"
  | "store-not-empty"
  | "connector-incomplete"
  | "invalid-secret";

export class ConnectorError extends FlowrunError {
  override readonly code: ConnectorErrorCode;
  constructor(
    code: ConnectorErrorCode,
    message: string,
    options?: { cause?: unknown; fixable?: FixableCause },
  ) {
    super(code, message, options);
    this.name = "ConnectorError";
    this.code = code;
  }
}

/** A connector or connectors file that breaks the schema or a registry rule; `problems` lists all of them. */
export class ConnectorValidationError extends ConnectorError {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[], context: string) {
    super("invalid-connector", `${context}: ${problemListMessage(problems)}`);
    this.name = "ConnectorValidationError";
    this.problems = problems;
  }
}

/**
 * Why a credential could not be obtained: stable codes a host can branch on (messages are for people and change).
 * The http-request activity reports every one of them as error kind `auth`.
 */
export type AuthErrorCode =
  /** The token endpoint could not be reached, or the connection was lost before its answer was read (retryable). */
  | "token-endpoint-unreachable"
  /** OAuth `invalid_client` (RFC 6749 5.2): the client id or secret was refused. Fix the connector. */
  | "invalid-client"
  /** OAuth `invalid_grant`: a refresh token revoked or expired, a refused assertion, a wrong password. */
  | "invalid-grant"
  /** Another OAuth error code (`invalid_scope`, `unauthorized_client`, `server_error`, ...); see `oauthError`. */
  | "token-refused"
  /** A non-2xx answer without an OAuth error (an HTML error page, 5xx, 429), or a redirect (not followed). */
  | "token-endpoint-status"
  /** A 2xx answer that is no usable token: not a JSON object, no access_token, not Bearer, a bad expires_in or instance_url. */
  | "token-response-malformed"
  /** A secret of the connector cannot be read or used (missing, unresolvable, a private key that is not RSA PEM). */
  | "credentials-unavailable"
  /** A token URL known only at run time (a Google key's token_uri) breaks the https rule. */
  | "insecure-token-url"
  /** The refresh token was not sent: the token endpoint refused it moments ago, and the backoff has not ended. */
  | "refresh-backoff"
  /** The fleet's token store (Redis) cannot be used, and a rotating refresh token is not spent without it. */
  | "token-store-unavailable";

/** The code of an OAuth error response (RFC 6749 5.2 `error`). */
function oauthErrorCode(oauthError: string): AuthErrorCode {
  if (oauthError === "invalid_client") return "invalid-client";
  if (oauthError === "invalid_grant") return "invalid-grant";
  return "token-refused";
}

/**
 * A credential could not be obtained or was refused: kind `auth` in the http-request activity. Messages carry the
 * server's `error` and `error_description`, never a secret. Every AuthError has a code: given, or from the OAuth error.
 */
export class AuthError extends FlowrunError {
  override readonly code: AuthErrorCode;
  /** The OAuth `error` code from the server (`invalid_client`, `invalid_grant`, ...), when it sent one. */
  readonly oauthError: string | undefined;
  /** Whether trying again later may succeed (network error, 5xx, 429). */
  readonly retryable: boolean;
  constructor(
    message: string,
    options: ({ code: AuthErrorCode; oauthError?: string } | { code?: undefined; oauthError: string }) & {
      retryable?: boolean;
      cause?: unknown;
    },
  ) {
    const code = options.code ?? oauthErrorCode(options.oauthError as string);
    super(code, message, { cause: options.cause });
    this.name = "AuthError";
    this.code = code;
    this.oauthError = options.oauthError;
    this.retryable = options.retryable ?? false;
  }
}
