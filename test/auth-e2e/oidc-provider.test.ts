import { createHash, generateKeyPairSync, X509Certificate } from "node:crypto";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import Provider from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorInput } from "../../src/index.js";
import {
  type CertificateAuthority,
  certificateAuthority,
  makeTestCertificates,
  type TestCertificates,
} from "../helpers/certificates.js";
import { runHttp } from "../helpers/http-flows.js";
import { connectorsDoc, memoryRegistry, useApiServer } from "./harness.js";

/**
 * panva's oidc-provider, a real OAuth server, on loopback over TLS that asks for client certificates: clients
 * registered for private_key_jwt (PS256 and ES256) and for tls_client_auth with certificate-bound tokens.
 */

const api = useApiServer();
let clientCa: CertificateAuthority;
let serverTls: TestCertificates;
let server: https.Server;
let provider: Provider;
let issuer: string;
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const pem = (key: typeof rsa.privateKey) => key.export({ type: "pkcs8", format: "pem" }).toString();
let clientCert: string;
let clientKey: string;
let selfCert: string;
let selfKey: string;

/** RFC 8705 section 2.2: a self-signed certificate is registered as a JWK with its certificate in `x5c`. */
function selfSignedJwk() {
  const certificate = new X509Certificate(selfCert);
  return { ...certificate.publicKey.export({ format: "jwk" }), x5c: [certificate.raw.toString("base64")] };
}

beforeAll(async () => {
  clientCa = certificateAuthority("ca");
  ({ cert: clientCert, key: clientKey } = clientCa.issue("flows-mtls", { days: 2 }));
  ({ cert: selfCert, key: selfKey } = clientCa.selfSigned("self", 40));
  serverTls = makeTestCertificates();
  server = https.createServer({
    key: serverTls.key,
    cert: serverTls.cert,
    ca: clientCa.cert,
    requestCert: true,
    rejectUnauthorized: false,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const jwk = (key: typeof rsa.publicKey, kid: string) => ({ ...key.export({ format: "jwk" }), kid });
  const common = { grant_types: ["client_credentials"], redirect_uris: [], response_types: [] };
  provider = new Provider(issuer, {
    clients: [
      {
        ...common,
        client_id: "pkjwt-ps256",
        token_endpoint_auth_method: "private_key_jwt",
        token_endpoint_auth_signing_alg: "PS256",
        jwks: { keys: [jwk(rsa.publicKey, "rsa-1")] },
      },
      {
        ...common,
        client_id: "pkjwt-es256",
        token_endpoint_auth_method: "private_key_jwt",
        jwks: { keys: [jwk(ec.publicKey, "ec-1")] },
      },
      {
        ...common,
        client_id: "mtls",
        token_endpoint_auth_method: "tls_client_auth",
        tls_client_auth_subject_dn: "CN=flows-mtls",
        tls_client_certificate_bound_access_tokens: true,
      },
      {
        ...common,
        client_id: "self-signed",
        token_endpoint_auth_method: "self_signed_tls_client_auth",
        jwks: { keys: [selfSignedJwk()] },
        tls_client_certificate_bound_access_tokens: true,
      },
    ],
    clientAuthMethods: ["private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"],
    features: {
      clientCredentials: { enabled: true },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx) => {
          const peer = (ctx.socket as TLSSocket).getPeerCertificate();
          return peer?.raw ? new X509Certificate(peer.raw).toString() : undefined;
        },
        certificateAuthorized: (ctx) => (ctx.socket as TLSSocket).authorized,
        certificateSubjectMatches: (ctx, property, expected) =>
          property === "tls_client_auth_subject_dn" &&
          `CN=${(ctx.socket as TLSSocket).getPeerCertificate().subject?.CN}` === expected,
      },
    },
  });
  server.on("request", provider.callback());
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  clientCa.remove();
});

async function callThrough(auth: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const connector = {
    id: "c-oidc",
    name: "Partner",
    type: "custom",
    resourceDomainUrl: api.url,
    auth: { type: "oauth2", tokenUrl: `${issuer}/token`, ...auth },
    ...extra,
  } as ConnectorInput;
  return runHttp(
    {
      ca: serverTls.ca,
      allowLoopbackHttp: true,
      connectors: memoryRegistry(connectorsDoc(connector)),
      secrets: {
        env: {
          RSA_KEY: pem(rsa.privateKey),
          EC_KEY: pem(ec.privateKey),
          CERT: clientCert,
          SELF_CERT: selfCert,
          SELF_KEY: selfKey,
          CERT_KEY: clientKey,
          SERVER_CA: serverTls.ca,
        },
      },
    },
    { connector: "Partner", requestPath: "/v1/items", timeoutMs: 8000 },
  );
}

const tokenOf = () => api.received.at(-1)?.headers.authorization?.replace(/^Bearer /, "");

describe("oidc-provider issues tokens to flowrun's clients", () => {
  it("private_key_jwt with PS256 and a kid", async () => {
    const run = await callThrough({
      clientId: "pkjwt-ps256",
      clientAuth: "private_key_jwt",
      privateKey: { env: "RSA_KEY" },
      signingAlg: "PS256",
      keyId: "rsa-1",
    });
    expect(run.outputs.error).toBeUndefined();
    expect(run.outputs.statusCode).toBe(200);
    const stored = await provider.ClientCredentials.find(tokenOf()!);
    expect(stored?.clientId).toBe("pkjwt-ps256");
  });

  it("private_key_jwt with ES256 (algorithm from the key)", async () => {
    const run = await callThrough({
      clientId: "pkjwt-es256",
      clientAuth: "private_key_jwt",
      privateKey: { env: "EC_KEY" },
    });
    expect(run.outputs.statusCode).toBe(200);
    expect((await provider.ClientCredentials.find(tokenOf()!))?.clientId).toBe("pkjwt-es256");
  });

  it("a key the server does not know is refused with invalid_client", async () => {
    const run = await callThrough({
      clientId: "pkjwt-es256",
      clientAuth: "private_key_jwt",
      privateKey: { env: "RSA_KEY" },
    });
    expect(run.outputs.error?.kind).toBe("auth");
    expect(run.outputs.error?.message).toContain("invalid_client");
  });

  it("tls_client_auth: the certificate authenticates the client and the token is bound to it (RFC 8705 3)", async () => {
    const run = await callThrough(
      { clientId: "mtls", clientAuth: "tls_client_auth" },
      { tls: { cert: { env: "CERT" }, key: { env: "CERT_KEY" }, ca: { env: "SERVER_CA" } } },
    );
    expect(run.outputs.error).toBeUndefined();
    expect(run.outputs.statusCode).toBe(200);
    const stored = await provider.ClientCredentials.find(tokenOf()!);
    expect(stored?.clientId).toBe("mtls");
    const thumbprint = createHash("sha256").update(new X509Certificate(clientCert).raw).digest("base64url");
    expect(stored?.["x5t#S256"]).toBe(thumbprint);
  });

  it("self_signed_tls_client_auth: the registered self-signed certificate authenticates, token bound to it", async () => {
    const run = await callThrough(
      { clientId: "self-signed", clientAuth: "self_signed_tls_client_auth" },
      { tls: { cert: { env: "SELF_CERT" }, key: { env: "SELF_KEY" }, ca: { env: "SERVER_CA" } } },
    );
    expect(run.outputs.error).toBeUndefined();
    const stored = await provider.ClientCredentials.find(tokenOf()!);
    expect(stored?.clientId).toBe("self-signed");
    const thumbprint = createHash("sha256").update(new X509Certificate(selfCert).raw).digest("base64url");
    expect(stored?.["x5t#S256"]).toBe(thumbprint);
  });
});
