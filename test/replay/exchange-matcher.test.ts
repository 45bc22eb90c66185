import { describe, expect, it } from "vitest";
import {
  closestRecorded,
  describeUnmatched,
  differences,
  matches,
  type ObservedRequest,
  observeRequest,
} from "../../src/replay/exchange-matcher.js";
import type { RecordedRequest } from "../../src/replay/test-file.js";

const get = (url: string, headers: Record<string, string> = {}): ObservedRequest => ({
  method: "GET",
  url,
  headers,
  body: undefined,
});

const post = (url: string, contentType: string, body: string, headers: Record<string, string> = {}) => ({
  method: "POST",
  url,
  headers: { "content-type": contentType, ...headers },
  body,
});

describe("exchange matcher", () => {
  it("ignores query parameter order", () => {
    const recorded: RecordedRequest = { method: "GET", url: "https://crm.example.com/a?x=1&y=2" };
    expect(matches(get("https://crm.example.com/a?y=2&x=1"), recorded)).toBe(true);
    expect(differences(get("https://crm.example.com/a?y=2&x=3"), recorded)).toEqual([
      'query x: "3" ≠ recorded "1"',
    ]);
  });

  it("reports a method mismatch", () => {
    const recorded: RecordedRequest = { method: "POST", url: "https://crm.example.com/a" };
    expect(differences(get("https://crm.example.com/a"), recorded)).toEqual(["method GET ≠ recorded POST"]);
  });

  it("reports path and origin mismatches", () => {
    const recorded: RecordedRequest = { method: "GET", url: "https://crm.example.com/api/orders/1" };
    expect(differences(get("https://crm.example.com/api/orders/2"), recorded)).toEqual([
      "path /api/orders/2 ≠ recorded /api/orders/1",
    ]);
    expect(differences(get("https://evil.example.com/api/orders/1"), recorded)).toEqual([
      "origin https://evil.example.com ≠ recorded https://crm.example.com",
    ]);
  });

  it("reports a missing or extra query parameter", () => {
    const recorded: RecordedRequest = { method: "GET", url: "https://crm.example.com/a?x=1" };
    expect(differences(get("https://crm.example.com/a"), recorded)).toEqual(['query x: [] ≠ recorded "1"']);
    expect(differences(get("https://crm.example.com/a?x=1&debug=true"), recorded)).toEqual([
      'query debug: "true" ≠ recorded []',
    ]);
  });

  it("describes a body mismatch with both bodies", () => {
    const recorded: RecordedRequest = {
      method: "POST",
      url: "https://crm.example.com/tickets",
      body: { subject: "Broken router", priority: "high" },
    };
    const observed = post(
      "https://crm.example.com/tickets",
      "application/json",
      JSON.stringify({ subject: "Broken router", priority: "low" }),
    );
    expect(differences(observed, recorded)).toEqual([
      'body {"subject":"Broken router","priority":"low"} ≠ recorded {"subject":"Broken router","priority":"high"}',
    ]);
    // an extra key is a difference too: recorded bodies are compared whole
    const extra = post(
      "https://crm.example.com/tickets",
      "application/json",
      JSON.stringify({ subject: "Broken router", priority: "high", debug: true }),
    );
    expect(matches(extra, recorded)).toBe(false);
  });

  it("does not compare a body or headers that were not recorded", () => {
    const recorded: RecordedRequest = { method: "POST", url: "https://crm.example.com/tickets" };
    expect(matches(post("https://crm.example.com/tickets", "text/plain", "anything"), recorded)).toBe(true);
  });

  describe("[REDACTED]", () => {
    it("matches any value of a query parameter, but the parameter must be there", () => {
      const recorded: RecordedRequest = {
        method: "GET",
        url: "https://api.example.com/v1?key=[REDACTED]&q=1",
      };
      expect(matches(get("https://api.example.com/v1?q=1&key=s3cr3t"), recorded)).toBe(true);
      expect(matches(get("https://api.example.com/v1?q=1"), recorded)).toBe(false);
      expect(matches(get("https://api.example.com/v1?q=2&key=s3cr3t"), recorded)).toBe(false);
    });

    it("matches inside a header value, the rest of it must be equal", () => {
      const recorded: RecordedRequest = {
        method: "GET",
        url: "https://api.example.com/v1",
        headers: { Authorization: "Bearer [REDACTED]" },
      };
      expect(
        matches(get("https://api.example.com/v1", { authorization: "Bearer eyJhbGciOi.x.y" }), recorded),
      ).toBe(true);
      expect(
        differences(get("https://api.example.com/v1", { authorization: "Basic Zm9vOmJhcg==" }), recorded),
      ).toEqual(['header authorization: "Basic Zm9vOmJhcg==" ≠ recorded "Bearer [REDACTED]"']);
      expect(matches(get("https://api.example.com/v1"), recorded)).toBe(false);
    });

    it("matches a JSON body leaf; other leaves still compare", () => {
      const recorded: RecordedRequest = {
        method: "POST",
        url: "https://api.example.com/login",
        body: { user: "ivr", secret: "[REDACTED]", nested: { token: "[REDACTED]" } },
      };
      const body = (user: string) => JSON.stringify({ user, secret: "hunter2", nested: { token: "t-1" } });
      expect(matches(post("https://api.example.com/login", "application/json", body("ivr")), recorded)).toBe(
        true,
      );
      expect(matches(post("https://api.example.com/login", "application/json", body("web")), recorded)).toBe(
        false,
      );
    });

    it("matches a form field; other fields still compare", () => {
      const recorded: RecordedRequest = {
        method: "POST",
        url: "https://auth.example.com/oauth/token",
        body: { grant_type: "refresh_token", refresh_token: "[REDACTED]", client_id: "C0ffee1234" },
      };
      const form = "application/x-www-form-urlencoded";
      expect(
        matches(
          post(
            "https://auth.example.com/oauth/token",
            form,
            "grant_type=refresh_token&refresh_token=r-1&client_id=C0ffee1234",
          ),
          recorded,
        ),
      ).toBe(true);
      expect(
        differences(
          post(
            "https://auth.example.com/oauth/token",
            form,
            "grant_type=client_credentials&refresh_token=r-1&client_id=C0ffee1234",
          ),
          recorded,
        ),
      ).toHaveLength(1);
    });

    it("does not treat a non-redacted value as a wildcard", () => {
      const recorded: RecordedRequest = {
        method: "GET",
        url: "https://api.example.com/v1?key=abc",
        headers: { "x-tenant": "acme" },
      };
      expect(matches(get("https://api.example.com/v1?key=abc", { "x-tenant": "acme" }), recorded)).toBe(true);
      expect(matches(get("https://api.example.com/v1?key=abd", { "x-tenant": "acme" }), recorded)).toBe(
        false,
      );
      expect(matches(get("https://api.example.com/v1?key=abc", { "x-tenant": "acm" }), recorded)).toBe(false);
      // regular-expression characters in a recorded value are literal
      const dotted: RecordedRequest = {
        method: "GET",
        url: "https://api.example.com/v1",
        headers: { "x-v": "a.c [REDACTED]" },
      };
      expect(matches(get("https://api.example.com/v1", { "x-v": "abc 1" }), dotted)).toBe(false);
      expect(matches(get("https://api.example.com/v1", { "x-v": "a.c 1" }), dotted)).toBe(true);
    });
  });

  it("picks the closest recorded request and prints both", () => {
    const candidates = [
      { request: { method: "POST", url: "https://auth.example.com/oauth/token" } as RecordedRequest },
      {
        request: {
          method: "GET",
          url: "https://crm.example.com/api/accounts?phone=%2B15551234567",
        } as RecordedRequest,
      },
    ];
    const observed = get("https://crm.example.com/api/accounts?phone=%2B15550000000");
    const closest = closestRecorded(observed, candidates);
    expect(closest?.candidate).toBe(candidates[1]);
    const text = describeUnmatched(observed, closest);
    expect(text.split("\n")).toEqual([
      "no recorded exchange matches GET https://crm.example.com/api/accounts?phone=%2B15550000000",
      "    request: GET https://crm.example.com/api/accounts?phone=%2B15550000000",
      "    closest: GET https://crm.example.com/api/accounts?phone=%2B15551234567",
      '      - query phone: "+15550000000" ≠ recorded "+15551234567"',
    ]);
    expect(describeUnmatched(observed, undefined)).toContain("closest: (no exchanges recorded)");
  });
});

describe("observeRequest (what the recorder records and replay matches)", () => {
  const at = { method: "post", origin: "https://api.example.com", path: "/v1/x?q=1" };
  it("reads headers in every form undici uses, lower-cased", () => {
    const expected = { accept: "application/json", "x-two": "a, b" };
    for (const headers of [
      ["Accept", "application/json", "X-Two", "a, b"],
      new Headers({ Accept: "application/json", "X-Two": "a, b" }),
      { Accept: "application/json", "X-Two": ["a", "b"], "X-Gone": undefined },
    ])
      expect(observeRequest({ ...at, headers }).headers).toEqual(expected);
  });
  it("upper-cases the method, joins origin and path, reads text and byte bodies", () => {
    expect(observeRequest({ ...at, body: Buffer.from("a=1") })).toEqual({
      method: "POST",
      url: "https://api.example.com/v1/x?q=1",
      headers: {},
      body: "a=1",
    });
    expect(observeRequest({ ...at, body: "text" }).body).toBe("text");
    expect(observeRequest(at).body).toBeUndefined();
  });
});
