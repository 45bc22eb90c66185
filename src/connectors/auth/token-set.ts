/** What a token endpoint granted, after its answer was checked. */
export interface TokenSet {
  readonly accessToken: string;
  /** Lower-cased `token_type`; `bearer` for every connector type flowrun supports. */
  readonly tokenType: string;
  /** The answer had no `token_type` and was taken as Bearer (said in the run's trace). */
  readonly tokenTypeAssumed?: boolean;
  /** Seconds, as the server sent them in `expires_in`. */
  readonly expiresIn: number | undefined;
  /** A new refresh token when the server rotated it (RFC 6749 section 6). */
  readonly refreshToken: string | undefined;
  /** Salesforce: the org's API base URL, which replaces the connector's base URL. */
  readonly instanceUrl: string | undefined;
}
