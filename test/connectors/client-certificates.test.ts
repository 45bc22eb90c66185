import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ConnectorInput } from "../../src/connectors/schema.js";
import { certificateExpiryWarning, checkClientCertificate } from "../../src/connectors/transport.js";
import { connectorsDoc, memoryRegistry } from "../auth-e2e/harness.js";
import { runHttp } from "../helpers/http-flows.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/servers.js";

/**
 * Mutual TLS against an HTTPS server that requires and verifies client certificates, all made by openssl here:
 * a client CA, a client certificate with a plain key, one with an encrypted key, and one that expires in 10 days.
 */

const PASSPHRASE = "k3y-Passphrase!";
let dir: string;
let serverTls: TestCertificates;
let server: https.Server & {
  url: string;
  seen: { path: string; cn: string; thumbprint: string; form: string }[];
};
const client: Record<string, string> = {};

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: "pipe", cwd: dir });
}

/** A client certificate for `name` signed by the client CA, valid `days`; `encrypt` protects its key. */
function issueClientCertificate(name: string, days: number, encrypt = false): void {
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    `/CN=${name}`,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
  );
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "client-ca.pem",
    "-CAkey",
    "client-ca.key",
    "-CAcreateserial",
    "-days",
    String(days),
    "-out",
    `${name}.pem`,
  );
  if (encrypt)
    openssl(
      "pkey",
      "-in",
      `${name}.key`,
      "-aes-256-cbc",
      "-passout",
      `pass:${PASSPHRASE}`,
      "-out",
      `${name}.enc.key`,
    );
}

const thumbprintOf = (der: Buffer) => createHash("sha256").update(der).digest("base64url");

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "flowrun-mtls-"));
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=flowrun client CA",
    "-keyout",
    "client-ca.key",
    "-out",
    "client-ca.pem",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  issueClientCertificate("flows", 2, true);
  issueClientCertificate("soon", 10);
  issueClientCertificate("other", 2);
  serverTls = makeTestCertificates();
  for (const name of ["flows.pem", "flows.key", "flows.enc.key", "soon.pem", "soon.key", "other.key"])
    client[name] = readFileSync(path.join(dir, name), "utf8");
  // The server trusts only the client CA and refuses a handshake without a certificate from it.
  server = https.createServer({
    key: serverTls.key,
    cert: serverTls.cert,
    ca: readFileSync(path.join(dir, "client-ca.pem"), "utf8"),
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
  rmSync(dir, { recursive: true, force: true });
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
    const certificate = checkClientCertificate({ cert: client["soon.pem"]!, key: client["soon.key"]! }, "c");
    const end = new Date(new X509Certificate(client["soon.pem"]!).validTo).getTime();
    expect(certificateExpiryWarning(certificate, "c", end - 31 * 86_400_000)).toBeUndefined();
    expect(certificateExpiryWarning(certificate, "c", end - 29 * 86_400_000)).toMatch(/in 29 days/);
    expect(certificateExpiryWarning(certificate, "c", end + 1000)).toMatch(/expired on/);
  });
});
