import { FlowrunError } from "../engine/errors.js";

/**
 * A connector could not authorise a request: the token endpoint refused the credentials (`invalid_client`,
 * `invalid_grant`), answered something unusable, or a refreshed token was rejected again. The http-request
 * activity reports it as error kind `auth`. Messages name the connector, never a secret value.
 */
export class AuthError extends FlowrunError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("auth", message, options);
    this.name = "AuthError";
  }
}
