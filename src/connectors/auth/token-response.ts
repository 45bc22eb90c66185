import { AuthError } from "../errors.js";
import type { TokenSet } from "./token-set.js";

export interface TokenEndpointAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export interface TokenResponseRules {
  /** The token endpoint's name for messages ("token endpoint https://.../oauth/token"). */
  readonly endpoint: string;
  /**
   * [RFC 6749 section 5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1) makes `token_type` REQUIRED, but
   * real servers omit it (Webex Experience Management's LoginToken, some gateways), and oauthlib accepts that by
   * default. Without this rule, a missing one is taken as Bearer; a connector's `strictTokenType` sets it.
   */
  readonly requireTokenType: boolean;
}

const MAX_QUOTED = 120;
const MALFORMED = "token-response-malformed";
const MALFORMED_ANSWER = { code: MALFORMED } as const;

function quote(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_QUOTED ? `${flat.slice(0, MAX_QUOTED)}...` : flat;
}

function parseJsonObject(answer: TokenEndpointAnswer, endpoint: string): Record<string, unknown> {
  const isJson = /\bjson\b/i.test(answer.contentType);
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    const what = answer.contentType ? answer.contentType.split(";")[0] : "no content type";
    throw new AuthError(
      `${endpoint} answered HTTP ${answer.status} with ${isJson ? "invalid JSON" : `${what}, not JSON`}` +
        (answer.body ? `: ${quote(answer.body)}` : " and an empty body"),
      { code: MALFORMED, retryable: answer.status >= 500 || answer.status === 429 },
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new AuthError(`${endpoint} answered HTTP ${answer.status} with JSON that is not an object`, {
      code: MALFORMED,
      retryable: answer.status >= 500 || answer.status === 429,
    });
  }
  return parsed as Record<string, unknown>;
}

/**
 * Checks a token endpoint's answer: RFC 6749 section 5.1 (successful response) and section 5.2 (error
 * response). Anything else is rejected with a message that says what was wrong; no secret is ever quoted (an
 * access token is only quoted when the answer is not a token at all).
 */
export function processTokenResponse(answer: TokenEndpointAnswer, rules: TokenResponseRules): TokenSet {
  const { endpoint } = rules;
  if (answer.status >= 300 && answer.status < 400) {
    throw new AuthError(
      `${endpoint} answered with a redirect (HTTP ${answer.status}); redirects are not followed`,
      { code: "token-endpoint-status" },
    );
  }
  if (answer.status < 200 || answer.status >= 300) {
    const retryable = answer.status >= 500 || answer.status === 429;
    let body: Record<string, unknown> | undefined;
    try {
      body = parseJsonObject(answer, endpoint);
    } catch {
      body = undefined;
    }
    // RFC 6749 section 5.2: `error` is REQUIRED in an error response, `error_description` OPTIONAL.
    if (body && typeof body.error === "string") {
      const description =
        typeof body.error_description === "string" ? `: ${quote(body.error_description)}` : "";
      throw new AuthError(
        `${endpoint} refused the request (HTTP ${answer.status}) with ${body.error}${description}`,
        {
          oauthError: body.error,
          retryable,
        },
      );
    }
    const detail = answer.body ? `: ${quote(answer.body)}` : "";
    throw new AuthError(`${endpoint} answered HTTP ${answer.status}${detail}`, {
      code: "token-endpoint-status",
      retryable,
    });
  }
  const body = parseJsonObject(answer, endpoint);
  const accessToken = body.access_token;
  if (typeof accessToken !== "string" || accessToken === "") {
    throw new AuthError(
      `${endpoint} answered HTTP ${answer.status} without an access_token`,
      MALFORMED_ANSWER,
    );
  }
  let tokenType = "bearer";
  const tokenTypeAssumed = body.token_type === undefined && !rules.requireTokenType;
  if (!tokenTypeAssumed) {
    if (typeof body.token_type !== "string")
      throw new AuthError(`${endpoint} answered without a token_type`, MALFORMED_ANSWER);
    tokenType = body.token_type.toLowerCase();
    // RFC 6750: flowrun only sends bearer tokens; another type would be sent wrongly.
    if (tokenType !== "bearer") {
      throw new AuthError(
        `${endpoint} answered token_type "${quote(body.token_type)}"; only Bearer tokens are supported`,
        MALFORMED_ANSWER,
      );
    }
  }
  let expiresIn: number | undefined;
  if (body.expires_in !== undefined && body.expires_in !== null) {
    const raw = body.expires_in;
    const value =
      typeof raw === "number"
        ? raw
        : typeof raw === "string" && /^\d+$/.test(raw.trim())
          ? Number(raw)
          : Number.NaN;
    if (!Number.isFinite(value) || value < 0) {
      throw new AuthError(
        `${endpoint} answered a non-numeric expires_in (${quote(JSON.stringify(raw))})`,
        MALFORMED_ANSWER,
      );
    }
    expiresIn = value;
  }
  const refreshToken =
    typeof body.refresh_token === "string" && body.refresh_token !== "" ? body.refresh_token : undefined;
  let instanceUrl: string | undefined;
  if (body.instance_url !== undefined) {
    if (typeof body.instance_url !== "string" || !URL.canParse(body.instance_url)) {
      throw new AuthError(`${endpoint} answered an instance_url that is not a URL`, MALFORMED_ANSWER);
    }
    instanceUrl = body.instance_url;
  }
  return {
    accessToken,
    tokenType,
    expiresIn,
    refreshToken,
    instanceUrl,
    ...(tokenTypeAssumed ? { tokenTypeAssumed } : {}),
  };
}
