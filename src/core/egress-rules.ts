import ipaddr from "ipaddr.js";
import { FlowrunError } from "./errors.js";

/**
 * Which destinations a flow-authored request may reach. Pure: no sockets, no DNS. The address ranges
 * come from ipaddr.js (its special-range tables track the IANA registries), not hand-written masks; this module
 * only decides which of them count as "the host's own network" and how IPv6 forms that carry an IPv4 address
 * are read.
 */

/** A destination refused by the egress policy; the activity reports error kind `egress-denied`. */
export class EgressDeniedError extends FlowrunError {
  override readonly code = "egress-denied";
  constructor(message: string) {
    super("egress-denied", message);
    this.name = "EgressDeniedError";
  }
}

/** Why an address is inward, as a readable rule with its range. */
const RULES: Record<string, string> = {
  loopback: "a loopback address (127.0.0.0/8, ::1)",
  private: "a private address (RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)",
  carrierGradeNat: "a shared address (100.64.0.0/10)",
  linkLocal: "a link-local address (169.254.0.0/16, fe80::/10)",
  metadata: "a cloud metadata address (169.254.169.254, fd00:ec2::254)",
  uniqueLocal: "a unique-local address (fc00::/7)",
  unspecified: "an unspecified address (0.0.0.0/8, ::)",
  multicast: "a multicast address (224.0.0.0/4, ff00::/8)",
  broadcast: "the broadcast address (255.255.255.255)",
  ipv4Compatible: "an IPv4-compatible IPv6 address (::/96, deprecated)",
  rfc6145: "an IPv4-translated IPv6 address (::ffff:0:0/96)",
  teredo: "a Teredo tunnel address (2001::/32)",
  deprecatedSiteLocal: "a site-local address (fec0::/10)",
};

const METADATA = [ipaddr.parse("169.254.169.254"), ipaddr.parse("fd00:ec2::254")];
const NAT64_PREFIXES = [ipaddr.parseCIDR("64:ff9b::/96"), ipaddr.parseCIDR("64:ff9b:1::/48")];
const SIX_TO_FOUR = ipaddr.parseCIDR("2002::/16");

type Address = ipaddr.IPv4 | ipaddr.IPv6;

function ipv4FromBytes(bytes: readonly number[]): ipaddr.IPv4 {
  return new ipaddr.IPv4([bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!]);
}

/**
 * The IPv4 address an IPv6 form stands for, when the packets end up there: IPv4-mapped (::ffff:a.b.c.d), NAT64
 * (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::) forms. Undefined for other addresses.
 */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  const bytes = address.toByteArray();
  if (NAT64_PREFIXES.some((prefix) => address.match(prefix))) return ipv4FromBytes(bytes.slice(12));
  if (address.match(SIX_TO_FOUR)) return ipv4FromBytes(bytes.slice(2, 6));
  return undefined;
}

/** The address as it is reached: an IPv6 form that carries an IPv4 address becomes that IPv4 address. */
function effectiveAddress(address: Address): Address {
  return address.kind() === "ipv6" ? (embeddedIPv4(address as ipaddr.IPv6) ?? address) : address;
}

/** Whether the first 96 bits are zero (IPv4-compatible form), except :: and ::1 which are classified by range. */
function isIPv4Compatible(address: Address): boolean {
  if (address.kind() !== "ipv6") return false;
  const parts = (address as ipaddr.IPv6).parts;
  return parts.slice(0, 6).every((part) => part === 0) && (parts[6] !== 0 || parts[7]! > 1);
}

/**
 * The rule key that makes an address inward, or undefined for a globally routable unicast address. Every range
 * ipaddr.js knows other than `unicast` is refused (documentation, benchmarking and reserved ranges included): a
 * flow has no business there either, and refusing what is not public is safer than listing what is private.
 */
export function inwardRule(address: Address): string | undefined {
  if (METADATA.some((metadata) => metadata.kind() === address.kind() && metadata.match(address, 128)))
    return "metadata";
  if (isIPv4Compatible(address)) return "ipv4Compatible";
  const effective = effectiveAddress(address);
  if (effective !== address) return inwardRule(effective);
  const range = effective.range();
  return range === "unicast" ? undefined : range;
}

function describeRule(rule: string): string {
  return RULES[rule] ?? `a special-purpose address (${rule})`;
}

/**
 * Parses an IP literal in any notation: what the WHATWG URL parser reads as an address (decimal, hex, octal,
 * shortened IPv4 such as `0x7f.1`, bracketed IPv6) and what ipaddr.js reads. URLs reaching the engine are already
 * normalised; a host that did not come through a URL (a connect step's host) is normalised here the same way.
 */
export function parseIpLiteral(host: string): Address | undefined {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  let normalised = bare;
  try {
    normalised = new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}/`).hostname.replace(
      /^\[|\]$/g,
      "",
    );
  } catch {
    // Not a valid host for a URL: ipaddr.js alone decides.
  }
  for (const candidate of [normalised, bare]) {
    if (ipaddr.isValid(candidate)) return ipaddr.parse(candidate);
  }
  return undefined;
}

function normalizeHostName(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

/** RFC 6761: `localhost` and every name below it are loopback, whatever a resolver says. */
function isLocalhostName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost");
}

export interface EgressPolicyOptions {
  /** Also allow loopback destinations (the engine's `allowLoopbackHttp`, for local test servers). */
  readonly allowLoopback?: boolean;
  /** Destinations an operator allows: CIDR ranges (`10.20.0.0/16`), single addresses, or exact host names. */
  readonly allow?: readonly string[];
}

const HOST_NAME =
  /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Thrown for an allow-list entry that is neither a CIDR range, an address nor a host name. */
export class EgressOptionError extends FlowrunError {
  constructor(message: string) {
    super("invalid-option", message);
    this.name = "EgressOptionError";
  }
}

/** An allowed range, with the address kind it applies to. */
type AllowedRange = [Address, number];

function parseAllowEntry(entry: string): { range?: AllowedRange; name?: string } {
  const text = entry.trim();
  if (text.includes("/")) {
    try {
      const [address, bits] = ipaddr.parseCIDR(text);
      // ::ffff:10.0.0.0/104 is 10.0.0.0/8: mapped addresses are compared in their IPv4 form.
      if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
        return { range: [(address as ipaddr.IPv6).toIPv4Address(), bits - 96] };
      return { range: [address, bits] };
    } catch {
      throw new EgressOptionError(`egress allow entry ${JSON.stringify(entry)} is not a valid CIDR range`);
    }
  }
  const literal = parseIpLiteral(text);
  if (literal) {
    const effective = effectiveAddress(literal);
    return { range: [effective, effective.kind() === "ipv4" ? 32 : 128] };
  }
  const name = normalizeHostName(text);
  if (!HOST_NAME.test(name))
    throw new EgressOptionError(
      `egress allow entry ${JSON.stringify(entry)} is neither a CIDR range, an IP address nor a host name`,
    );
  return { name };
}

/**
 * The egress policy of one engine: which destinations flow-authored requests may reach. Built once; its checks
 * are pure and cheap (a host-name check is a Set lookup, an address check a few range comparisons).
 */
export class EgressPolicy {
  readonly #allowLoopback: boolean;
  readonly #ranges: AllowedRange[] = [];
  readonly #names = new Set<string>();

  constructor(options: EgressPolicyOptions = {}) {
    this.#allowLoopback = options.allowLoopback ?? false;
    for (const entry of options.allow ?? []) {
      const { range, name } = parseAllowEntry(entry);
      if (range) this.#ranges.push(range);
      if (name) this.#names.add(name);
    }
  }

  /** Whether an operator allowed this host name explicitly (its addresses are then not checked). */
  allowsName(host: string): boolean {
    return this.#names.has(normalizeHostName(host));
  }

  /** Why a connection to `address` (reached for `host`) is refused, or undefined when it is allowed. */
  addressProblem(address: Address, host: string): string | undefined {
    const rule = inwardRule(address);
    if (rule === undefined) return undefined;
    const effective = effectiveAddress(address);
    if (this.#allowLoopback && rule === "loopback") return undefined;
    const inRange = (candidate: Address) =>
      this.#ranges.some(([base, bits]) => base.kind() === candidate.kind() && candidate.match(base, bits));
    if (inRange(effective) || inRange(address)) return undefined;
    const shown = address.toString();
    const destination = normalizeHostName(host) === shown ? shown : `${host} (${shown})`;
    return `${destination} is ${describeRule(rule)}: flows may not reach the host's own network (allow it with the engine option egressAllow or --egress-allow)`;
  }

  /**
   * Checks a destination host as written in a URL, before anything is sent: IP literals in any notation and
   * `localhost` names are decided here; other names are decided on the addresses they resolve to (connect step).
   */
  checkHost(host: string): void {
    if (this.allowsName(host)) return;
    const literal = parseIpLiteral(host);
    if (literal) {
      const problem = this.addressProblem(literal, host.replace(/^\[|\]$/g, ""));
      if (problem) throw new EgressDeniedError(problem);
      return;
    }
    if (isLocalhostName(normalizeHostName(host)) && !this.#allowLoopback)
      throw new EgressDeniedError(
        `${host} is ${describeRule("loopback")}: flows may not reach the host's own network (allow it with the engine option egressAllow or --egress-allow)`,
      );
  }

  /** Checks every address a host name resolved to; all must be allowed (any of them may be connected to). */
  checkResolved(host: string, addresses: readonly string[]): void {
    for (const text of addresses) {
      const address = parseIpLiteral(text);
      if (!address) throw new EgressDeniedError(`${host} resolved to ${text}, which is not an IP address`);
      const problem = this.addressProblem(address, host);
      if (problem) throw new EgressDeniedError(problem);
    }
  }
}
