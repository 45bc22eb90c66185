import { type FixableCause, FlowrunError, type Problem } from "../core/errors.js";

/**
 * Why the connector registry refused an operation. Each code names one rule of SPEC 4, so programs can react to it
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
    const errors = problems.filter((p) => p.severity === "error");
    super(
      "invalid-connector",
      `${context}: ${errors.length} problem${errors.length === 1 ? "" : "s"}:\n` +
        errors.map((p) => `  ${p.path}: ${p.message}`).join("\n"),
    );
    this.name = "ConnectorValidationError";
    this.problems = problems;
  }
}

export function isConnectorError(error: unknown): error is ConnectorError {
  return error instanceof ConnectorError;
}

/**
 * A credential could not be obtained or was refused: kind `auth` in the http-request activity. Messages carry the
 * server's `error` and `error_description`, never a secret.
 */
export class AuthError extends FlowrunError {
  /** The OAuth `error` code from the server (`invalid_client`, `invalid_grant`, ...), when it sent one. */
  readonly oauthError: string | undefined;
  /** Whether trying again later may succeed (network error, 5xx, 429). */
  readonly retryable: boolean;
  constructor(message: string, options: { oauthError?: string; retryable?: boolean; cause?: unknown } = {}) {
    super("auth", message, { cause: options.cause });
    this.name = "AuthError";
    this.oauthError = options.oauthError;
    this.retryable = options.retryable ?? false;
  }
}
