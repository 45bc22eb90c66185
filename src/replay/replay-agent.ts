import { errors, MockAgent } from "undici";
import {
  closestRecorded,
  describeUnmatched,
  matches,
  type ObservedRequest,
  observeRequest,
} from "./exchange-matcher.js";
import type { Exchange, Fault, RecordedResponse } from "./test-file.js";

/** The answer to a request no recorded exchange matches: a status nothing retries (see ReplaySession). */
export const UNMATCHED_STATUS = 404;

/** What MockAgent passes to a reply callback (and to a reply's data function): the dispatched request. */
interface DispatchedRequest {
  readonly signal?: { aborted: boolean; addEventListener(type: "abort", listener: () => void): void } | null;
}

/**
 * A reply body that arrives after `delayMs`: MockAgent waits for a promise returned by the data function, and
 * drops the reply when the request is aborted meanwhile (the deadline passed), which is then a timeout.
 */
function delayed(data: string, delayMs: number) {
  return (request: DispatchedRequest) =>
    new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve(data), delayMs);
      timer.unref();
      request.signal?.addEventListener("abort", () => clearTimeout(timer));
    });
}

/**
 * Faults, through the MockAgent like every replayed answer. `network`: the dispatch fails with undici's
 * SocketError, as a dropped connection does (and as MockAgent's replyWithError does, at the same point).
 * `timeout`: the reply never comes; MockAgent has handed undici the abort hook, so the activity's deadline
 * aborts the request as it would a silent server.
 */
function faultReply(fault: Fault) {
  if (fault === "network") throw new errors.SocketError("other side closed (fixture fault: network)");
  return { statusCode: 200, data: () => new Promise<string>(() => {}), responseOptions: {} };
}

function replyFor(response: RecordedResponse) {
  const headers: Record<string, string> = { ...response.headers };
  const hasContentType = Object.keys(headers).some((name) => name.toLowerCase() === "content-type");
  let data = "";
  if (typeof response.body === "string") {
    data = response.body;
    if (!hasContentType) headers["content-type"] = "text/plain; charset=utf-8";
  } else if (response.body !== undefined) {
    data = JSON.stringify(response.body);
    if (!hasContentType) headers["content-type"] = "application/json";
  }
  const body = response.delayMs ? delayed(data, response.delayMs) : data;
  return { statusCode: response.status, data: body, responseOptions: { headers } };
}

/**
 * The recorded exchanges of one case as an undici MockAgent, to be handed to the engine as its dispatcher: the
 * engine's whole request path (token requests included) runs unchanged and no network is touched. Each recorded
 * exchange answers one matching request; a request that matches none is answered 404 and reported with the
 * closest recorded one. Not a 5xx: token requests retry 5xx answers, which would report the same unmatched
 * request five times and spend seconds in backoff before the case fails.
 */
export class ReplaySession {
  readonly dispatcher: MockAgent;
  readonly #exchanges: readonly Exchange[];
  readonly #used: boolean[];
  readonly #unmatched: string[] = [];

  constructor(exchanges: readonly Exchange[]) {
    this.#exchanges = exchanges;
    this.#used = exchanges.map(() => false);
    this.dispatcher = new MockAgent({ connections: 1 });
    this.dispatcher.disableNetConnect();
    this.dispatcher
      .get(() => true)
      .intercept({ path: () => true, method: () => true })
      .reply((options) => this.#answer(observeRequest(options)))
      .persist();
  }

  #answer(observed: ObservedRequest) {
    const index = this.#exchanges.findIndex(
      (exchange, i) => !this.#used[i] && matches(observed, exchange.request),
    );
    if (index >= 0) {
      this.#used[index] = true;
      const exchange = this.#exchanges[index]!;
      return exchange.fault ? faultReply(exchange.fault) : replyFor(exchange.response!);
    }
    const alreadyUsed = this.#exchanges.some((exchange) => matches(observed, exchange.request));
    const unused = this.#exchanges.filter((_, i) => !this.#used[i]);
    const closest = closestRecorded(observed, unused.length > 0 ? unused : this.#exchanges);
    this.#unmatched.push(
      describeUnmatched(observed, closest, alreadyUsed ? " (its recorded exchange was already used)" : ""),
    );
    return {
      statusCode: UNMATCHED_STATUS,
      data: "flowrun replay: no recorded exchange matches this request",
      responseOptions: { headers: { "content-type": "text/plain" } },
    };
  }

  /** Readable descriptions of the requests no recorded exchange matched. */
  get unmatched(): readonly string[] {
    return this.#unmatched;
  }

  /** Recorded exchanges no request used. */
  get unused(): readonly Exchange[] {
    return this.#exchanges.filter((_, i) => !this.#used[i]);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
