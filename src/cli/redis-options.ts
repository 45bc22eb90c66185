import { readFileSync } from "node:fs";
import path from "node:path";
import { RedisUnavailableError } from "../connectors/redis/connection.js";
import { connectRedisFleet, type RedisFleet } from "../connectors/redis/fleet.js";
import { TokenKeyError } from "../connectors/redis/sealing.js";
import type { RefreshWhileUnreachable } from "../connectors/redis/shared-tokens.js";
import { UsageError } from "./io.js";
import type { CliContext } from "./main.js";

/** Environment variables of the Redis mode (docs/fleet.md). */
export const REDIS_URL_ENV = "FLOWRUN_REDIS_URL";
export const REDIS_PREFIX_ENV = "FLOWRUN_REDIS_PREFIX";
/** A PEM file of the CA that signed the certificate of a `rediss://` Redis. */
export const REDIS_CA_FILE_ENV = "FLOWRUN_REDIS_CA_FILE";
export const REFRESH_WHILE_UNREACHABLE_ENV = "FLOWRUN_REFRESH_WHILE_UNREACHABLE";

const REFRESH_CHOICES: readonly RefreshWhileUnreachable[] = ["wait", "refresh-locally"];

/** FLOWRUN_REFRESH_WHILE_UNREACHABLE: `wait` (default) or `refresh-locally`; anything else is a usage error. */
function refreshWhileUnreachableFrom(ctx: CliContext): RefreshWhileUnreachable | undefined {
  const value = ctx.io.env[REFRESH_WHILE_UNREACHABLE_ENV];
  if (value === undefined || value === "") return undefined;
  if ((REFRESH_CHOICES as readonly string[]).includes(value)) return value as RefreshWhileUnreachable;
  throw new UsageError(
    `${REFRESH_WHILE_UNREACHABLE_ENV} is "${value}"; it must be ${REFRESH_CHOICES.map((choice) => `"${choice}"`).join(" or ")}`,
  );
}

export const REDIS_OPTION_HELP = `share connectors and tokens through Redis at this URL (or ${REDIS_URL_ENV}); needs FLOWRUN_TOKEN_KEY`;

/** `--redis URL`, else FLOWRUN_REDIS_URL; undefined when neither is given (the file / in-process default). */
export function redisUrlFrom(ctx: CliContext, option: string | undefined): string | undefined {
  const url = option ?? ctx.io.env[REDIS_URL_ENV];
  return url === undefined || url === "" ? undefined : url;
}

/**
 * Connects to the fleet's Redis. A missing or malformed FLOWRUN_TOKEN_KEY and an unreachable Redis are usage
 * errors (exit 2) with a message naming the variable or the URL; once connected, a lost Redis only warns.
 */
export async function openFleet(
  ctx: CliContext,
  url: string,
  options: { allowLoopbackHttp?: boolean } = {},
): Promise<RedisFleet> {
  const caFile = ctx.io.env[REDIS_CA_FILE_ENV] || undefined;
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(path.resolve(ctx.io.cwd, caFile));
    } catch (error) {
      throw new UsageError(
        `${REDIS_CA_FILE_ENV}: cannot read ${caFile} (${(error as NodeJS.ErrnoException).code})`,
      );
    }
  }
  const refreshWhileUnreachable = refreshWhileUnreachableFrom(ctx);
  try {
    return await connectRedisFleet({
      url,
      refreshWhileUnreachable,
      redis: ca === undefined ? undefined : { tls: { ca } },
      env: ctx.io.env,
      keyPrefix: ctx.io.env[REDIS_PREFIX_ENV] || undefined,
      baseDir: ctx.io.cwd,
      allowLoopbackHttp: options.allowLoopbackHttp,
      onWarning: (message) => ctx.io.stderr(`warning: ${message}\n`),
    });
  } catch (error) {
    if (error instanceof TokenKeyError || error instanceof RedisUnavailableError)
      throw new UsageError(error.message);
    throw error;
  }
}
