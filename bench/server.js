// The benchmark's API and token server, in its own process so it never shares the engine's event loop.
// Routes: /api/accounts (JSON), POST /api/interactions (reads the JSON body, answers an id), /slow/accounts (answers after SLOW_MS), /flaky/accounts (like /api/, but 1 % of
// requests fail with a 500 or a destroyed connection and 1 % answer after FLAKY_SLOW_MS), /oauth/token (counts
// grants), /stats.
import http from "node:http";

const SLOW_MS = Number(process.env.SLOW_MS ?? 1000);
const FLAKY_SLOW_MS = Number(process.env.FLAKY_SLOW_MS ?? 1000);
const flaky = { errors: 0, destroyed: 0, slow: 0 };
const ACCOUNT = JSON.stringify({
  accounts: [{ id: "A-17", vip: true, balance: 250.5, name: "Ada Lovelace" }],
});
let tokenRequests = 0;
let apiRequests = 0;
let connections = 0;

const server = http.createServer((request, response) => {
  const url = request.url ?? "/";
  if (url.startsWith("/oauth/token")) {
    request.resume();
    request.on("end", () => {
      tokenRequests++;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          access_token: `bench-token-${tokenRequests}`,
          token_type: "Bearer",
          expires_in: 3600,
        }),
      );
    });
    return;
  }
  if (url.startsWith("/stats")) {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ tokenRequests, apiRequests, connections, flaky }));
    return;
  }
  if (url.startsWith("/reset")) {
    tokenRequests = 0;
    apiRequests = 0;
    flaky.errors = 0;
    flaky.destroyed = 0;
    flaky.slow = 0;
    response.end("{}");
    return;
  }
  apiRequests++;
  if (url.startsWith("/api/interactions")) {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      const id = JSON.parse(body).accountId === "A-17" ? "I-1" : "I-unknown";
      const text = JSON.stringify({ id, status: "created" });
      response.writeHead(201, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      response.end(text);
    });
    return;
  }
  const answer = () => {
    response.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(ACCOUNT),
    });
    response.end(ACCOUNT);
  };
  if (url.startsWith("/slow/")) setTimeout(answer, SLOW_MS);
  else if (url.startsWith("/flaky/")) {
    const dice = Math.random() * 100;
    if (dice < 0.5) {
      flaky.errors++;
      response.writeHead(500, { "content-type": "application/json" });
      response.end('{"error":"flaky"}');
    } else if (dice < 1) {
      flaky.destroyed++;
      request.socket.destroy();
    } else if (dice < 2) {
      flaky.slow++;
      setTimeout(answer, FLAKY_SLOW_MS);
    } else answer();
  } else answer();
});
server.on("connection", () => {
  connections++;
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.maxRequestsPerSocket = 0;
server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: server.address().port });
});
process.on("message", (message) => {
  if (message === "stop") server.close(() => process.exit(0));
});
process.on("disconnect", () => process.exit(0));
