import { describe, expect, it } from "vitest";
import {
  processTokenResponse,
  type TokenEndpointAnswer,
} from "../../../src/connectors/auth/token-response.js";
import { AuthError, type AuthErrorCode } from "../../../src/connectors/errors.js";

const endpoint = "token endpoint https://auth.example.com/oauth/token";
const rules = { endpoint, requireTokenType: true };
const JSON_TYPE = "application/json; charset=utf-8";

function answer(status: number, body: unknown, contentType = JSON_TYPE): TokenEndpointAnswer {
  return { status, contentType, body: typeof body === "string" ? body : JSON.stringify(body) };
}

function refusal(run: () => unknown): AuthError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return error as AuthError;
  }
  throw new Error("expected an AuthError, but the answer was accepted");
}

describe("processTokenResponse: successful answers (RFC 6749 5.1)", () => {
  it("accepts a complete answer and lower-cases the token type", () => {
    const token = processTokenResponse(
      answer(200, {
        access_token: "at-1",
        token_type: "Bearer",
        expires_in: 3600,
        refresh_token: "rt-2",
        instance_url: "https://eu1.my.salesforce.com",
      }),
      rules,
    );
    expect(token).toEqual({
      accessToken: "at-1",
      tokenType: "bearer",
      expiresIn: 3600,
      refreshToken: "rt-2",
      instanceUrl: "https://eu1.my.salesforce.com",
    });
  });

  it("accepts expires_in as a numeric string", () => {
    const token = processTokenResponse(
      answer(200, { access_token: "at", token_type: "bearer", expires_in: "3599" }),
      rules,
    );
    expect(token.expiresIn).toBe(3599);
  });

  it("treats a missing expires_in as unknown", () => {
    const token = processTokenResponse(answer(200, { access_token: "at", token_type: "BEARER" }), rules);
    expect(token.expiresIn).toBeUndefined();
    expect(token.tokenType).toBe("bearer");
  });

  it("accepts a missing token_type only when it is not required (Webex Experience Management)", () => {
    const token = processTokenResponse(answer(200, { access_token: "wxm" }), {
      endpoint,
      requireTokenType: false,
    });
    expect(token).toMatchObject({ accessToken: "wxm", tokenType: "bearer" });
  });

  it("ignores an empty refresh_token", () => {
    const token = processTokenResponse(
      answer(200, { access_token: "at", token_type: "bearer", refresh_token: "" }),
      rules,
    );
    expect(token.refreshToken).toBeUndefined();
  });
});

describe("processTokenResponse: rejected answers", () => {
  const cases: {
    name: string;
    answer: TokenEndpointAnswer;
    message: string[];
    requireTokenType?: boolean;
    retryable?: boolean;
    oauthError?: string;
    /** Default token-response-malformed. */
    code?: AuthErrorCode;
  }[] = [
    {
      name: "missing access_token",
      answer: answer(200, { token_type: "bearer", expires_in: 3600 }),
      message: [endpoint, "HTTP 200 without an access_token"],
    },
    {
      name: "empty access_token",
      answer: answer(200, { access_token: "", token_type: "bearer" }),
      message: ["without an access_token"],
    },
    {
      name: "access_token that is not a string",
      answer: answer(200, { access_token: 42, token_type: "bearer" }),
      message: ["without an access_token"],
    },
    {
      name: 'token_type "mac"',
      answer: answer(200, { access_token: "at", token_type: "mac" }),
      message: ['token_type "mac"', "only Bearer tokens are supported"],
    },
    {
      name: "missing token_type when required",
      answer: answer(200, { access_token: "at", expires_in: 60 }),
      message: ["answered without a token_type"],
    },
    {
      name: "a wrong token_type even when not required",
      answer: answer(200, { access_token: "at", token_type: "mac" }),
      requireTokenType: false,
      message: ["only Bearer tokens are supported"],
    },
    {
      name: 'expires_in "soon"',
      answer: answer(200, { access_token: "at", token_type: "bearer", expires_in: "soon" }),
      message: ['non-numeric expires_in ("soon")'],
    },
    {
      name: "negative expires_in",
      answer: answer(200, { access_token: "at", token_type: "bearer", expires_in: -5 }),
      message: ["non-numeric expires_in (-5)"],
    },
    {
      name: "HTML body with text/html",
      answer: answer(200, "<html><body>Sign in</body></html>", "text/html; charset=utf-8"),
      message: ["HTTP 200 with text/html, not JSON", "<html><body>Sign in</body></html>"],
    },
    {
      name: "invalid JSON with a JSON content type",
      answer: answer(200, '{"access_token": "at",', JSON_TYPE),
      message: ["HTTP 200 with invalid JSON", '{"access_token": "at",'],
    },
    {
      name: "empty body",
      answer: answer(200, "", ""),
      message: ["no content type, not JSON and an empty body"],
    },
    {
      name: "a JSON array",
      answer: answer(200, [{ access_token: "at" }]),
      message: ["JSON that is not an object"],
    },
    {
      name: "JSON null",
      answer: answer(200, "null"),
      message: ["JSON that is not an object"],
    },
    {
      name: "302 redirect",
      answer: { status: 302, contentType: "text/html", body: "<a href='/login'>moved</a>" },
      message: ["redirect (HTTP 302)", "redirects are not followed"],
      code: "token-endpoint-status",
    },
    {
      name: "400 invalid_client with a description",
      answer: answer(400, { error: "invalid_client", error_description: "Client authentication failed" }),
      message: ["refused the request (HTTP 400) with invalid_client", "Client authentication failed"],
      oauthError: "invalid_client",
      retryable: false,
      code: "invalid-client",
    },
    {
      name: "400 invalid_grant",
      answer: answer(400, { error: "invalid_grant" }),
      message: ["refused the request (HTTP 400) with invalid_grant"],
      oauthError: "invalid_grant",
      retryable: false,
      code: "invalid-grant",
    },
    {
      name: "401 invalid_client without a JSON content type",
      answer: answer(401, { error: "invalid_client" }, "text/plain"),
      message: ["HTTP 401) with invalid_client"],
      oauthError: "invalid_client",
      retryable: false,
      code: "invalid-client",
    },
    {
      name: "503 with an HTML page",
      answer: answer(503, "<html>Service Unavailable</html>", "text/html"),
      message: ["answered HTTP 503: <html>Service Unavailable</html>"],
      retryable: true,
      code: "token-endpoint-status",
    },
    {
      name: "500 with an OAuth error",
      answer: answer(500, { error: "server_error", error_description: "try later" }),
      message: ["HTTP 500) with server_error: try later"],
      oauthError: "server_error",
      retryable: true,
      code: "token-refused",
    },
    {
      name: "429 with an empty body",
      answer: answer(429, "", ""),
      message: ["answered HTTP 429"],
      retryable: true,
      code: "token-endpoint-status",
    },
    {
      name: "instance_url that is not a URL",
      answer: answer(200, { access_token: "at", token_type: "bearer", instance_url: "eu1 salesforce" }),
      message: ["instance_url that is not a URL"],
    },
    {
      name: "instance_url that is not a string",
      answer: answer(200, { access_token: "at", token_type: "bearer", instance_url: 7 }),
      message: ["instance_url that is not a URL"],
    },
  ];

  it.each(cases)("$name", (testCase) => {
    const error = refusal(() =>
      processTokenResponse(testCase.answer, {
        endpoint,
        requireTokenType: testCase.requireTokenType ?? true,
      }),
    );
    for (const part of testCase.message) expect(error.message).toContain(part);
    expect(error.retryable).toBe(testCase.retryable ?? false);
    expect(error.oauthError).toBe(testCase.oauthError);
    expect(error.code).toBe(testCase.code ?? "token-response-malformed");
  });

  it("quotes at most 120 characters of an unexpected body", () => {
    const page = `<html>${"x".repeat(500)}</html>`;
    const error = refusal(() => processTokenResponse(answer(200, page, "text/html"), rules));
    expect(error.message).toContain(`${page.slice(0, 120)}...`);
    expect(error.message).not.toContain(page.slice(0, 121));
  });

  it("does not quote the access token when rejecting a token answer", () => {
    const error = refusal(() =>
      processTokenResponse(answer(200, { access_token: "secret-token-value", token_type: "mac" }), rules),
    );
    expect(error.message).not.toContain("secret-token-value");
  });
});
