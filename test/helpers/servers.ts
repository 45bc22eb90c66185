import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/** One request a loopback server received, body included. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Handler = (
  request: ReceivedRequest,
  response: http.ServerResponse,
  raw: http.IncomingMessage,
) => void | Promise<void>;

export interface LoopbackServer {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly received: ReceivedRequest[];
  /** Every TCP connection accepted (a refused destination must leave this unchanged). */
  readonly connections: { count: number };
  /** The SNI server name of each TLS connection (HTTPS servers; "" when the client sent none). */
  readonly servernames: string[];
  /** Replaces the handler (tests share servers and set what they need). */
  handle(handler: Handler): void;
  close(): Promise<void>;
}

const open: LoopbackServer[] = [];

function wrap(server: http.Server | https.Server, scheme: "http" | "https", initial: Handler) {
  const received: ReceivedRequest[] = [];
  const connections = { count: 0 };
  const servernames: string[] = [];
  const sockets = new Set<import("node:net").Socket>();
  let handler = initial;
  server.on("secureConnection", (socket: import("node:tls").TLSSocket) => {
    servernames.push(typeof socket.servername === "string" ? socket.servername : "");
  });
  server.on("connection", (socket) => {
    connections.count++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("request", (raw: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    raw.on("data", (chunk: Buffer) => chunks.push(chunk));
    raw.on("end", () => {
      const request: ReceivedRequest = {
        method: raw.method ?? "",
        url: raw.url ?? "",
        headers: raw.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      received.push(request);
      Promise.resolve(handler(request, response, raw)).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    });
  });
  return new Promise<LoopbackServer>((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      const loopback: LoopbackServer = {
        url: `${scheme}://127.0.0.1:${port}`,
        port,
        received,
        connections,
        servernames,
        handle: (next) => {
          handler = next;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      };
      open.push(loopback);
      resolve(loopback);
    });
  });
}

/** Answers 200 with `{"ok":true}`. */
export const okJson: Handler = (_request, response) => {
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify({ ok: true }));
};

export function startHttpServer(handler: Handler = okJson): Promise<LoopbackServer> {
  return wrap(http.createServer(), "http", handler);
}

export function startHttpsServer(tls: TestCertificates, handler: Handler = okJson): Promise<LoopbackServer> {
  return wrap(https.createServer({ key: tls.key, cert: tls.cert }), "https", handler);
}

/** Closes every server started by these helpers (call in afterAll). */
export async function closeAllServers(): Promise<void> {
  await Promise.all(open.splice(0).map((server) => server.close()));
}

export interface TestCertificates {
  /** PEM of the test CA, for the engine's `ca` option. */
  ca: string;
  key: string;
  cert: string;
}

/**
 * A throwaway CA and a server certificate for 127.0.0.1, localhost and *.flowrun.test (names tests resolve with
 * an injected lookup), made with the openssl CLI.
 */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(path.join(tmpdir(), "flowrun-tls-"));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=flowrun test CA",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
  );
  writeFileSync(
    file("server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.flowrun.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  openssl(
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    file("server.ext"),
    "-out",
    file("server.pem"),
  );
  const certificates = {
    ca: readFileSync(file("ca.pem"), "utf8"),
    key: readFileSync(file("server.key"), "utf8"),
    cert: readFileSync(file("server.pem"), "utf8"),
  };
  rmSync(dir, { recursive: true, force: true });
  return certificates;
}
