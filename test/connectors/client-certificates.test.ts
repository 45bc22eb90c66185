import { createHash, X509Certificate } from "node:crypto";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { certificateExpiryWarning, checkClientCertificate } from "../../src/connectors/transport.js";
import type { ConnectorInput } from "../../src/index.js";
import { connectorsDoc, memoryRegistry } from "../auth-e2e/harness.js";
import {
  type CertificateAuthority,
  certificateAuthority,
  type IssuedCertificate,
  makeTestCertificates,
  type TestCertificates,
} from "../helpers/certificates.js";
import { runHttp } from "../helpers/http-flows.js";

/**
 * Mutual TLS against an HTTPS server that requires and verifies client certificates, all made by openssl here:
 * a client CA, a client certificate with a plain key, one with an encrypted key, and one that expires in 10 days.
 */

const PASSPHRASE = "k3y-Passphrase!";
let clientCa: CertificateAuthority;
/** The client CA's folder, with flows.pem, flows.key and flows.enc.key (connectors name them as files). */
let dir: string;
let serverTls: TestCertificates;
let server: https.Server & {
  url: string;
  seen: { path: string; cn: string; thumbprint: string; form: string }[];
};
/** A client certificate that expires in 10 days. */
let soon: IssuedCertificate;

const thumbprintOf = (der: Buffer) => createHash("sha256").update(der).digest("base64url");

beforeAll(async () => {
  clientCa = certificateAuthority("flowrun client CA");
  dir = clientCa.dir;
  clientCa.issue("flows", { days: 2, passphrase: PASSPHRASE });
  soon = clientCa.issue("soon", { days: 10 });
  clientCa.issue("other", { days: 2 });
  serverTls = makeTestCertificates();
  // The server trusts only the client CA and refuses a handshake without a certificate from it.
  server = https.createServer({
    key: serverTls.key,
    cert: serverTls.cert,
    ca: clientCa.cert,
    requestCert: true,
    rejectUnauthorized: true,
  }) as typeof server;
  server.seen = [];
  server.on("request", (request, response) => {
    const peer = (request.socket as TLSSocket).getPeerCertificate(false);
    const thumbprint = thumbprintOf(peer.raw);
    let form = "";
    request.on("data", (chunk: Buffer) => (form += chunk.toString()));
    request.on("end", () => {
      server.seen.push({ path: request.url ?? "", cn: String(peer.subject?.CN), thumbprint, form });
      response.setHeader("content-type", "application/json");
      if (request.url === "/token") {
        // RFC 8705 section 3: a certificate-bound token carries the certificate's SHA-256 thumbprint.
        response.end(
          JSON.stringify({ access_token: `bound.${thumbprint}`, token_type: "Bearer", expires_in: 3600 }),
        );
        return;
      }
      const bound = request.headers.authorization === `Bearer bound.${thumbprint}`;
      response.statusCode = bound ? 200 : 401;
      response.end(JSON.stringify({ bound }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  clientCa.remove();
});
beforeEach(() => {
  server.seen.length = 0;
});

const ENV = () => ({ PASSPHRASE, SERVER_CA: serverTls.ca });

function mtlsConnector(
  tls: Record<string, unknown> | undefined,
  clientAuth = "tls_client_auth",
): ConnectorInput {
  return {
    id: "c-mtls",
    name: "Bank",
    type: "custom",
    resourceDomainUrl: server.url,
    ...(tls ? { tls } : {}),
    auth: { type: "oauth2", clientId: "flows-client", clientAuth, tokenUrl: `${server.url}/token` },
  } as ConnectorInput;
}

async function callBank(connector: ConnectorInput, warnings: string[] = []) {
  return runHttp(
    {
      connectors: memoryRegistry(connectorsDoc(connector)),
      secrets: { env: ENV(), baseDir: dir },
      onWarning: (message) => warnings.push(message),
    },
    { connector: "Bank", requestPath: "/v1/balance", timeoutMs: 4000 },
  );
}

const fullTls = {
  cert: { file: "flows.pem" },
  key: { file: "flows.enc.key" },
  passphrase: { env: "PASSPHRASE" },
  ca: { env: "SERVER_CA" },
};

describe("client certificates", () => {
  it("tls_client_auth: the token request and the API call present the certificate; the bound token is honoured", async () => {
    const run = await callBank(mtlsConnector(fullTls));
    expect(run.outputs.statusCode).toBe(200);
    expect(run.outputs.json).toEqual({ bound: true });
    expect(server.seen.map((seen) => [seen.path, seen.cn])).toEqual([
      ["/token", "flows"],
      ["/v1/balance", "flows"],
    ]);
    const form = new URLSearchParams(server.seen[0]!.form);
    expect(form.get("client_id")).toBe("flows-client");
    expect(form.has("client_secret")).toBe(false);
    expect(JSON.stringify(run.result)).not.toContain(PASSPHRASE);
  });

  it("without a certificate the server refuses the handshake (the connector's CA alone is not enough)", async () => {
    const run = await callBank({
      ...mtlsConnector(undefined, "body"),
      auth: { type: "basic", username: "u", password: "p" },
      tls: { ca: { env: "SERVER_CA" } },
    } as ConnectorInput);
    expect(run.outputs.statusCode).toBeNull();
    expect(server.seen).toEqual([]);
  });

  it("a wrong passphrase, a missing one, or a key of another certificate is a clear auth error before anything is sent", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { ...fullTls, passphrase: "wrong" },
        /tls\.key is not a readable PEM private key, or tls\.passphrase is wrong/,
      ],
      [{ cert: fullTls.cert, key: fullTls.key }, /tls\.key is encrypted; give its tls\.passphrase/],
      [{ cert: fullTls.cert, key: { file: "other.key" } }, /tls\.key is not the key of tls\.cert/],
    ];
    for (const [tls, message] of cases) {
      const run = await callBank(mtlsConnector(tls));
      expect(run.outputs.error?.kind).toBe("auth");
      expect(run.outputs.error?.message).toMatch(message);
      expect(run.outputs.error?.message).not.toContain(PASSPHRASE);
    }
    expect(server.seen).toEqual([]);
  });

  it("a certificate that expires within 30 days is warned about when the connector is loaded", async () => {
    const warnings: string[] = [];
    const run = await callBank(
      mtlsConnector({ cert: { file: "soon.pem" }, key: { file: "soon.key" }, ca: { env: "SERVER_CA" } }),
      warnings,
    );
    expect(run.outputs.statusCode).toBe(200);
    expect(warnings).toEqual([
      expect.stringMatching(
        /connector "Bank": the client certificate \(tls\.cert\) expires on \d{4}-\d\d-\d\d, in 1[01] days/,
      ),
    ]);
  });

  it("the expiry rule: none far away, a warning within 30 days, another once expired", () => {
    const certificate = checkClientCertificate({ cert: soon.cert, key: soon.key }, "c");
    const end = new Date(new X509Certificate(soon.cert).validTo).getTime();
    expect(certificateExpiryWarning(certificate, "c", end - 31 * 86_400_000)).toBeUndefined();
    expect(certificateExpiryWarning(certificate, "c", end - 29 * 86_400_000)).toMatch(/in 29 days/);
    expect(certificateExpiryWarning(certificate, "c", end + 1000)).toMatch(/expired on/);
  });
});
