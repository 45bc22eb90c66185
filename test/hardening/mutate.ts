import fc from "fast-check";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Hostile and awkward strings: Liquid syntax, JSON and URL metacharacters, control characters, long text. */
export const hostileConstants = [
  "",
  " ",
  "{{",
  "}}",
  "{{ contact }}",
  "{{ contact.ani | upcase }}",
  "{% raw %}",
  "{% for x in (1..100000000) %}x{% endfor %}",
  "{{ 'a' | nosuchfilter }}",
  "{{ constructor.constructor('return process')() }}",
  "{{ __proto__ }}",
  "__proto__",
  "constructor",
  "prototype",
  "$",
  "$..*",
  "$[?(@.a)]",
  "$.a[",
  "../../etc/passwd",
  "..",
  "//evil.example/x",
  "\\\\evil.example\\x",
  "@evil.example",
  "http://evil.example/",
  "https://evil.example:8443/x",
  "%2F%2Fevil.example",
  "%252F%252Fevil.example",
  "%2e%2e/%2e%2e/",
  "%5C",
  "%40evil",
  "%0d%0aX-Injected: 1",
  "\r\nX-Injected: 1",
  "\n",
  "\u0000",
  "\u2028\u2029",
  "a\u0085b",
  "?a=b&c=d",
  "#fragment",
  '"}, "injected": {"x": 1}, "y": {"',
  "\"'<>&",
  "<script>alert(1)</script>",
  "ünïcødé 漢字 🚀",
  "\uD800",
  "x".repeat(5000),
  "1e309",
  "-0",
  "NaN",
  "true",
  "null",
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...hostileConstants),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc
    .array(fc.constantFrom(...hostileConstants), { minLength: 2, maxLength: 4 })
    .map((parts) => parts.join("")),
);

/** A JSON value to put somewhere it does not belong. */
const garbage: fc.Arbitrary<Json> = fc.oneof(
  hostileString,
  fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 1e21, [], {}, [[[]]], { type: "end-flow" }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.integer({ min: 2, max: 60 }).map((depth) => {
    let value: Json = "deep";
    for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { nested: value };
    return value;
  }),
);

export type Mutation =
  | { op: "delete"; at: number }
  | { op: "replace"; at: number; value: Json }
  | { op: "duplicate"; at: number; key: string }
  | { op: "retype"; at: number }
  | { op: "insert"; at: number; key: string; value: Json };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("replace" as const), at: fc.nat(), value: garbage }),
  fc.record({ op: fc.constant("duplicate" as const), at: fc.nat(), key: hostileString }),
  fc.record({ op: fc.constant("retype" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), key: hostileString, value: garbage }),
);

interface Slot {
  parent: Json[] | { [key: string]: Json };
  key: string | number;
}

function slots(value: Json, into: Slot[] = []): Slot[] {
  if (Array.isArray(value)) {
    value.forEach((child, index) => {
      into.push({ parent: value, key: index });
      slots(child, into);
    });
  } else if (value !== null && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      into.push({ parent: value, key });
      slots(child, into);
    }
  }
  return into;
}

function retyped(value: Json): Json {
  if (typeof value === "string") return value.length;
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "true" : 0;
  if (value === null) return {};
  if (Array.isArray(value)) return Object.fromEntries(value.map((item, index) => [String(index), item]));
  return Object.values(value);
}

function set(slot: Slot, value: Json): void {
  if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = value;
  else slot.parent[slot.key as string] = value;
}

/** Applies mutations to a deep copy of `document` (a mutation's `at` picks a slot modulo the slot count). */
export function mutate(document: Json, mutations: readonly Mutation[]): Json {
  const root: { [key: string]: Json } = { root: structuredClone(document) };
  for (const change of mutations) {
    const all = slots(root);
    const slot = all[change.at % all.length]!;
    const current = Array.isArray(slot.parent)
      ? slot.parent[slot.key as number]!
      : slot.parent[slot.key as string]!;
    switch (change.op) {
      case "delete":
        if (slot.parent === root) break;
        if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
        else delete slot.parent[slot.key as string];
        break;
      // Generated values are copied in: fast-check reuses them across runs while shrinking, and a later mutation
      // that inserts into a shared value would make it cyclic.
      case "replace":
        set(slot, structuredClone(change.value));
        break;
      case "retype":
        set(slot, retyped(current));
        break;
      case "duplicate":
        if (Array.isArray(slot.parent)) slot.parent.push(structuredClone(current));
        else
          Object.defineProperty(slot.parent, change.key, {
            value: structuredClone(current),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        break;
      case "insert":
        if (Array.isArray(current)) current.push(structuredClone(change.value));
        else if (current !== null && typeof current === "object")
          Object.defineProperty(current, change.key, {
            value: structuredClone(change.value),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        else set(slot, { [change.key]: current });
        break;
    }
  }
  return root.root!;
}
