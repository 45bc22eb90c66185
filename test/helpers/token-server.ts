import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One request as the loopback token endpoint received it. */
export interface RecordedRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: string;
  /** The application/x-www-form-urlencoded body, parsed (last value wins). */
  readonly form: Readonly<Record<string, string>>;
}

/** What the server answers to one request. */
export type Answer =
  | {
      readonly status?: number;
      /** Serialised as the body with `application/json` unless `contentType` says otherwise. */
      readonly json?: unknown;
      /** A raw body (wins over `json`). */
      readonly body?: string;
      readonly contentType?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /** Never answers (the socket stays open until the server closes). */
  | { readonly hang: true }
  /** Destroys the connection without an HTTP answer. */
  | { readonly destroy: true }
  /** Sends the status line, headers and the start of a JSON body, then destroys the connection. */
  | { readonly truncated: string };

/** Computes the answer from the request; may check it (a thrown error becomes a 400 invalid_request). */
export type Responder = (request: RecordedRequest) => Answer | Promise<Answer>;

export interface TokenServerOptions {
  /** Answers used in order, one per request; after they run out, `fallback` answers. */
  readonly script?: readonly (Answer | Responder)[];
  /** Default: a bearer token `token-<n>` with expires_in 3600. */
  readonly fallback?: Answer | Responder;
}

export interface TokenServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Errors thrown by responders (their checks failed). */
  readonly checkFailures: unknown[];
  url(path?: string): string;
  /** Appends answers to the script. */
  enqueue(...answers: (Answer | Responder)[]): void;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

/** A successful RFC 6749 section 5.1 answer. */
export function tokenAnswer(fields: Record<string, unknown> = {}): Answer {
  return { json: { access_token: "token", token_type: "Bearer", expires_in: 3600, ...fields } };
}

/** An RFC 6749 section 5.2 error answer. */
export function oauthError(error: string, description?: string, status = 400): Answer {
  return {
    status,
    json: description === undefined ? { error } : { error, error_description: description },
  };
}

/**
 * A loopback OAuth 2.0 token endpoint on 127.0.0.1 (port chosen by the OS) that records what it receives and
 * answers from a script.
 */
export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const script: (Answer | Responder)[] = [...(options.script ?? [])];
  const requests: RecordedRequest[] = [];
  const checkFailures: unknown[] = [];
  const sockets = new Set<Socket>();
  let served = 0;
  const fallback: Answer | Responder =
    options.fallback ?? (() => tokenAnswer({ access_token: `token-${served}` }));

  const send = (response: ServerResponse, answer: Answer): void => {
    if ("hang" in answer) return;
    if ("destroy" in answer) {
      response.socket?.destroy();
      return;
    }
    if ("truncated" in answer) {
      response.writeHead(200, { "content-type": "application/json", "content-length": "4096" });
      response.write(answer.truncated, () => response.socket?.destroy());
      return;
    }
    const body = answer.body ?? (answer.json === undefined ? "" : JSON.stringify(answer.json));
    const contentType = answer.contentType ?? (answer.json === undefined ? "text/plain" : "application/json");
    response.writeHead(answer.status ?? 200, {
      "content-type": contentType,
      "cache-control": "no-store",
      ...answer.headers,
    });
    response.end(body);
  };

  const server = createServer(async (request, response) => {
    const rawBody = await readBody(request);
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const recorded: RecordedRequest = {
      method: request.method ?? "",
      path: url.pathname,
      headers: request.headers,
      rawBody,
      form: Object.fromEntries(new URLSearchParams(rawBody)),
    };
    requests.push(recorded);
    served++;
    const next = script.shift() ?? fallback;
    let answer: Answer;
    try {
      answer = typeof next === "function" ? await next(recorded) : next;
    } catch (error) {
      checkFailures.push(error);
      answer = oauthError("invalid_request", `token server check failed: ${(error as Error).message}`);
    }
    send(response, answer);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    port,
    requests,
    checkFailures,
    url: (path = "/oauth/token") => `${origin}${path}`,
    enqueue: (...answers) => {
      script.push(...answers);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Decodes an `Authorization: Basic` header into its two form-urlencoded halves, decoded (RFC 6749 2.3.1). */
export function decodeClientBasic(header: string | undefined): { id: string; secret: string } {
  if (!header?.startsWith("Basic ")) throw new Error(`not a Basic authorization: ${String(header)}`);
  const pair = Buffer.from(header.slice("Basic ".length), "base64").toString("utf8");
  const colon = pair.indexOf(":");
  if (colon < 0) throw new Error(`no ":" in the Basic credentials ${pair}`);
  const formDecode = (text: string) => decodeURIComponent(text.replace(/\+/g, " "));
  return { id: formDecode(pair.slice(0, colon)), secret: formDecode(pair.slice(colon + 1)) };
}

/** A port that nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
