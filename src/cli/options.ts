import { EgressOptionError, EgressPolicy } from "../core/egress-rules.js";
import { UsageError } from "./io.js";

/** Splits `name=value` at the first `=`; a missing `=` or an empty name is a usage error naming `flag`. */
export function splitPair(flag: string, pair: string, shape = "name=value"): [string, string] {
  const at = pair.indexOf("=");
  if (at <= 0) throw new UsageError(`${flag} expects ${shape}, got ${JSON.stringify(pair)}`);
  return [pair.slice(0, at), pair.slice(at + 1)];
}

/** Collects repeatable `name=value` options (`--var`, `--contact`) into an object. */
export function collectPairs(flag: string) {
  return (pair: string, previous: Record<string, string> = {}): Record<string, string> => {
    const [name, value] = splitPair(flag, pair);
    return { ...previous, [name]: value };
  };
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`${flag} expects a positive whole number, got ${text}`);
  return n;
}

/** Collects `--egress-allow` entries, each checked at once so that a typo is a usage error naming the entry. */
export function collectEgressAllow(value: string, previous: string[] = []): string[] {
  try {
    new EgressPolicy({ allow: [value] });
  } catch (error) {
    if (error instanceof EgressOptionError) throw new UsageError(`--egress-allow: ${error.message}`);
    throw error;
  }
  return [...previous, value];
}

export const EGRESS_ALLOW_HELP =
  "let flow-authored URLs reach this CIDR range, address or host name of the host's own network (repeatable)";
