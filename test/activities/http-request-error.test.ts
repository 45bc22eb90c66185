// The error a failed http-request activity is described by: stable code, status, redacted URL, and a body excerpt
// that never shows a secret, even one the excerpt's cut would split.
import { describe, expect, it } from "vitest";
import {
  BODY_EXCERPT_CHARS,
  bodyExcerpt,
  HttpRequestError,
} from "../../src/activities/http-request/activity-error.js";
import { SecretScrubber } from "../../src/core/scrubber.js";
import { HttpRequestError as Exported } from "../../src/index.js";

describe("HttpRequestError", () => {
  it("is exported and keeps code, status, URL and excerpt", () => {
    const error = new HttpRequestError("http-status", "GET https://api.example.com/x answered 503", {
      status: 503,
      url: "https://api.example.com/x?api_key=%5BREDACTED%5D",
      bodyExcerpt: '{"error":"busy"}',
    });
    expect(Exported).toBe(HttpRequestError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: "HttpRequestError",
      code: "http-status",
      status: 503,
      url: "https://api.example.com/x?api_key=%5BREDACTED%5D",
      bodyExcerpt: '{"error":"busy"}',
    });
  });
});

describe("bodyExcerpt", () => {
  const scrubber = new SecretScrubber();
  const secret = "s3cr3t-".repeat(20);
  scrubber.add(secret);
  const scrub = (text: string) => scrubber.scrubText(text);

  it("is undefined for an empty body and the body itself when short", () => {
    expect(bodyExcerpt("", scrub)).toBeUndefined();
    expect(bodyExcerpt('{"a":1}', scrub)).toBe('{"a":1}');
  });

  it("scrubs before it shortens: a secret across the cut leaves no part of itself", () => {
    const body = `${"x".repeat(BODY_EXCERPT_CHARS - 50)}${secret}${"y".repeat(1000)}`;
    const excerpt = bodyExcerpt(body, scrub)!;
    expect(excerpt).not.toContain("s3cr3t");
    expect(excerpt).toContain("[REDACTED]");
    expect(excerpt.length).toBeLessThanOrEqual(BODY_EXCERPT_CHARS + 3);
  });
});
