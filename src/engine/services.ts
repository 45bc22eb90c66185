import type { ConnectorResolver } from "../core/connector-seam.js";
import type { HttpServices } from "../core/http-types.js";
import type { Limits } from "../core/limits.js";
import type { SecretScrubber } from "../core/scrubber.js";

/**
 * What the engine lends to activities: options and shared resources. Activities receive it through their
 * compile and run contexts, so an activity never reaches for globals and tests can substitute any part.
 */
export interface EngineServices {
  /** Maximum number of activities one run may execute (loop protection). */
  readonly maxSteps: number;
  /** Bounds on JSON paths, templates and value depth (src/core/limits.ts). */
  readonly limits: Limits;
  /** Learns the credentials requests carry (access tokens as issued), so that every output can redact them. */
  readonly scrubber: SecretScrubber;
  /** The HTTP transport shared by every run of the engine (connection pools, body cap, loopback rule). */
  readonly http: HttpServices;
  /** Looks connectors up by name or id; undefined when the host configured none. */
  readonly connectors: ConnectorResolver | undefined;
}
