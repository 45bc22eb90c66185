import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EgressDeniedError, EgressPolicy } from "../../src/core/egress-rules.js";
import { createEngine, type Engine } from "../../src/runtime/create-engine.js";
import { makeTestCertificates } from "../helpers/certificates.js";
import { httpFlow } from "../helpers/http-flows.js";
import { closeAllServers, type LoopbackServer, startHttpsServer } from "../helpers/servers.js";

/**
 * Property: however an inward address is written (decimal, hex, octal, shortened, IPv4-mapped and other
 * IPv6 forms), a flow-authored URL to it is refused with egress-denied and the loopback server sees nothing.
 */

/** Inward IPv4 ranges: base bytes and prefix length. */
const INWARD_V4: [number[], number][] = [
  [[127, 0, 0, 0], 8],
  [[10, 0, 0, 0], 8],
  [[172, 16, 0, 0], 12],
  [[192, 168, 0, 0], 16],
  [[100, 64, 0, 0], 10],
  [[169, 254, 0, 0], 16],
  [[0, 0, 0, 0], 8],
  [[224, 0, 0, 0], 4],
  [[255, 255, 255, 255], 32],
];

const inwardV4 = fc
  .tuple(fc.constantFrom(...INWARD_V4), fc.integer({ min: 0, max: 0xffffffff }))
  .map(([[base, bits], random]) => {
    const baseValue = ((base[0]! << 24) | (base[1]! << 16) | (base[2]! << 8) | base[3]!) >>> 0;
    const hostMask = bits === 32 ? 0 : 0xffffffff >>> bits;
    return ((baseValue & ~hostMask) | (random & hostMask)) >>> 0;
  });

type Radix = "dec" | "hex" | "HEX" | "oct";
const radix = fc.constantFrom<Radix>("dec", "hex", "HEX", "oct");

function renderNumber(value: number, how: Radix): string {
  switch (how) {
    case "dec":
      return String(value);
    case "hex":
      return `0x${value.toString(16)}`;
    case "HEX":
      return `0X${value.toString(16).toUpperCase()}`;
    case "oct":
      return `0${value.toString(8)}`;
  }
}

/** WHATWG IPv4 forms: 1 to 4 parts, each in any radix, the last part holding the remaining bytes; a trailing dot. */
const ipv4Encoding = fc
  .tuple(
    inwardV4,
    fc.integer({ min: 1, max: 4 }),
    fc.array(radix, { minLength: 4, maxLength: 4 }),
    fc.boolean(),
  )
  .map(([value, parts, radixes, trailingDot]) => {
    const bytes = [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
    const leading = bytes.slice(0, parts - 1);
    const rest = bytes.slice(parts - 1).reduce((total, byte) => total * 256 + byte, 0);
    const text = [...leading, rest].map((part, i) => renderNumber(part, radixes[i]!)).join(".");
    return trailingDot ? `${text}.` : text;
  });

const hex16 = (value: number, pad: boolean, upper: boolean) => {
  const text = value.toString(16).padStart(pad ? 4 : 1, "0");
  return upper ? text.toUpperCase() : text;
};

/** IPv6 forms carrying an inward IPv4 address: mapped (dotted or hex, compressed or not), compatible, NAT64, 6to4. */
const ipv6Carrying = fc
  .tuple(inwardV4, fc.integer({ min: 0, max: 5 }), fc.boolean(), fc.boolean())
  .map(([value, form, pad, upper]) => {
    const high = hex16(value >>> 16, pad, upper);
    const low = hex16(value & 0xffff, pad, upper);
    const dotted = [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
    const ffff = upper ? "FFFF" : "ffff";
    const forms = [
      `[::${ffff}:${dotted}]`,
      `[::${ffff}:${high}:${low}]`,
      `[0:0:0:0:0:${ffff}:${high}:${low}]`,
      `[::${dotted}]`,
      `[64:ff9b::${high}:${low}]`,
      `[2002:${high}:${low}::1]`,
    ];
    return forms[form]!;
  });

/** Native inward IPv6: loopback, link-local, unique-local, multicast; full or compressed, padded or not, any case. */
const inwardV6 = fc
  .tuple(
    fc.constantFrom<[number, number]>([0xfe80, 0x3f], [0xfc00, 0x1ff], [0xff00, 0xff], [0, 0]),
    fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
    fc.boolean(),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([[prefix, freeBits], random, compress, pad, upper]) => {
    const first = prefix === 0 ? 0 : prefix | (random[0]! & freeBits);
    const last = prefix === 0 ? 1 : random[7]!;
    if (compress) return `[${prefix === 0 ? "" : hex16(first, pad, upper)}::${hex16(last, pad, upper)}]`;
    const middle = prefix === 0 ? [0, 0, 0, 0, 0, 0] : random.slice(1, 7);
    return `[${[first, ...middle, last].map((group) => hex16(group, pad, upper)).join(":")}]`;
  });

const anyInward = fc.oneof(ipv4Encoding, ipv6Carrying, inwardV6);

let server: LoopbackServer;
let engine: Engine;
let ca: string;

beforeAll(async () => {
  const tls = makeTestCertificates();
  ca = tls.ca;
  server = await startHttpsServer(tls);
  engine = createEngine({ ca });
});
afterAll(async () => {
  await engine.close();
  await closeAllServers();
});

describe("egress policy over random encodings of inward addresses", () => {
  it("refuses every encoding as a host name on its own (before any URL normalisation)", () => {
    const policy = new EgressPolicy();
    fc.assert(
      fc.property(anyInward, (host) => {
        expect(() => policy.checkHost(host)).toThrow(EgressDeniedError);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses every encoding in a flow's requestUrl with egress-denied; the loopback server sees no connection", async () => {
    const flow = engine.compile(
      httpFlow(
        { useAuthenticatedEndpoint: false, requestUrl: "{{ target }}", timeoutMs: 4000 },
        { target: { type: "string" } },
      ),
    );
    await fc.assert(
      fc.asyncProperty(anyInward, async (host) => {
        const result = await flow.run({ variables: { target: `https://${host}:${server.port}/p` } });
        const out = result.variables.out as { error?: { kind: string; message: string } };
        expect(out.error?.kind, host).toBe("egress-denied");
      }),
      { numRuns: 300 },
    );
    expect(server.connections.count).toBe(0);
  });

  it("lets globally routable addresses through, in any form that carries them", () => {
    const policy = new EgressPolicy();
    for (const host of [
      "8.8.8.8",
      "134744072",
      "0x8.0x8.0x8.0x8",
      "[::ffff:8.8.8.8]",
      "[64:ff9b::808:808]",
      "[2001:4860:4860::8888]",
      "example.com",
    ])
      expect(() => policy.checkHost(host), host).not.toThrow();
  });
});
