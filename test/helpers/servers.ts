import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TestCertificates } from "./certificates.js";

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
