import { describe, expect, it } from "vitest";
import {
  credentialSecrets,
  isSecretName,
  REDACTED,
  redactHeaders,
  redactUrl,
  scrubSecrets,
} from "../../src/core/redact.js";

describe("redaction", () => {
  it.each([
    "authorization",
    "Proxy-Authorization",
    "cookie",
    "x-api-key",
    "apikey",
    "api_key",
    "key",
    "access_token",
    "refreshToken",
    "client_secret",
    "password",
    "x-session-id",
  ])("treats %s as secret", (name) => {
    expect(isSecretName(name)).toBe(true);
  });

  it.each(["accept", "x-caller", "phone", "content-type", "q"])("shows %s", (name) => {
    expect(isSecretName(name)).toBe(false);
  });

  it("redacts connector headers whatever their name", () => {
    expect(
      redactHeaders({ "X-Tenant": "t1", "X-Org-Signature": "sig", Accept: "a" }, new Set(["x-tenant"])),
    ).toEqual({
      "x-tenant": REDACTED,
      "x-org-signature": REDACTED,
      accept: "a",
    });
  });

  it("redacts secret query parameters and user info in URLs", () => {
    expect(redactUrl(new URL("https://u:p@api.example.com/x?token=abc&q=1 2"))).toBe(
      "https://[REDACTED]:[REDACTED]@api.example.com/x?token=[REDACTED]&q=1%202",
    );
  });

  it("scrubs known secret values from messages", () => {
    expect(scrubSecrets("server said Bearer abcd1234 is bad", ["abcd1234", "ab"])).toBe(
      "server said Bearer [REDACTED] is bad",
    );
  });
});

describe("credentialSecrets", () => {
  it("is the header value and, for Scheme credential values, the credential alone", () => {
    expect(credentialSecrets("Bearer abc.def")).toEqual(["Bearer abc.def", "abc.def"]);
    expect(credentialSecrets("raw-api-key")).toEqual(["raw-api-key"]);
  });

  it("for Basic also the decoded user:password and the password, which a server may quote back", () => {
    const header = `Basic ${Buffer.from("flows:pa55-Word:with-colon").toString("base64")}`;
    expect(credentialSecrets(header)).toEqual([
      header,
      header.slice("Basic ".length),
      "flows:pa55-Word:with-colon",
      "pa55-Word:with-colon",
    ]);
    // Not user:password once decoded: only the header and the credential.
    expect(credentialSecrets("Basic bm8tY29sb24=")).toEqual(["Basic bm8tY29sb24=", "bm8tY29sb24="]);
  });
});
