import { describe, expect, it } from "vitest";
import {
  clientCredentialsRequest,
  jwtBearerRequest,
  passwordRequest,
  refreshTokenRequest,
  wxmLoginRequest,
} from "../../../src/connectors/auth/token-request.js";
import { connectorEndpoints } from "../../../src/connectors/url-rules.js";
import { decodeClientBasic } from "../../helpers/token-server.js";

const FORM_HEADERS = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };

describe("token request builders", () => {
  it("client credentials with Basic: form-urlencoded halves (RFC 6749 2.3.1), no scope when none", () => {
    const request = clientCredentialsRequest("https://auth.example.com/token", {
      clientId: "a b:c",
      clientSecret: "~!*()'",
      clientAuth: "basic",
    });
    expect(request.url).toBe("https://auth.example.com/token");
    expect(request.body).toBe("grant_type=client_credentials");
    expect(request.headers).toMatchObject(FORM_HEADERS);
    const pair = Buffer.from(request.headers.authorization!.slice(6), "base64").toString("utf8");
    expect(pair).toBe("a+b%3Ac:%7E%21*%28%29%27");
    expect(decodeClientBasic(request.headers.authorization)).toEqual({ id: "a b:c", secret: "~!*()'" });
  });

  it("client credentials in the body", () => {
    const request = clientCredentialsRequest(
      "https://auth.example.com/token",
      { clientId: "id&x", clientSecret: "se=cret", clientAuth: "body" },
      "a b",
    );
    expect(request.headers).toEqual(FORM_HEADERS);
    expect(request.body).toBe(
      "grant_type=client_credentials&scope=a+b&client_id=id%26x&client_secret=se%3Dcret",
    );
  });

  it("password and refresh token grants", () => {
    const client = { clientId: "i", clientSecret: "s", clientAuth: "body" } as const;
    expect(passwordRequest("https://t/", client, { username: "u@x", password: "p w" }).body).toBe(
      "grant_type=password&username=u%40x&password=p+w&client_id=i&client_secret=s",
    );
    expect(refreshTokenRequest("https://t/", client, "r/t+1").body).toBe(
      "grant_type=refresh_token&refresh_token=r%2Ft%2B1&client_id=i&client_secret=s",
    );
  });

  it("jwt bearer carries no client authentication", () => {
    const request = jwtBearerRequest("https://login.salesforce.com/services/oauth2/token", "h.p.s");
    expect(request.headers).toEqual(FORM_HEADERS);
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({
      grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
      assertion: "h.p.s",
    });
  });

  it.each([
    ["https://api.getcloudcherry.com", "https://api.getcloudcherry.com/api/LoginToken"],
    ["https://api.getcloudcherry.com/", "https://api.getcloudcherry.com/api/LoginToken"],
    ["https://x.example.com/tenant", "https://x.example.com/tenant/api/LoginToken"],
  ])("wxm LoginToken URL from base %s", (base, url) => {
    const connector = {
      id: "w",
      name: "WXM",
      status: "active",
      type: "webex-experience-management",
      username: "u",
      apiKey: "k",
      resourceDomainUrl: base,
    } as const;
    const tokenUrl = connectorEndpoints(connector).tokenUrl!;
    expect(tokenUrl).toBe(url);
    const request = wxmLoginRequest(tokenUrl, { username: "u", apiKey: "k" });
    expect(request.url).toBe(url);
    expect(request.body).toBe("grant_type=password&username=u&password=k");
    expect(request.headers).toEqual(FORM_HEADERS);
  });
});
