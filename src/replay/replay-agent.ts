import { MockAgent } from "undici";
import {
  closestRecorded,
  describeUnmatched,
  matches,
  type ObservedRequest,
  observeRequest,
} from "./exchange-matcher.js";
import type { Exchange, RecordedResponse } from "./test-file.js";

/** The answer to a request no recorded exchange matches: a status nothing retries (see ReplaySession). */
export const UNMATCHED_STATUS = 404;

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
  return { statusCode: response.status, data, responseOptions: { headers } };
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
      return replyFor(this.#exchanges[index]!.response);
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
