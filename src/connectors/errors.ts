import { FlowrunError } from "../engine/errors.js";

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
