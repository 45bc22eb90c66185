import { describe, expect, it } from "vitest";
import { TraceTimestamps } from "../../src/engine/interpreter.js";

describe("trace timestamps", () => {
  it("equal Date#toISOString across milliseconds, seconds and days", () => {
    const timestamps = new TraceTimestamps();
    const start = Date.UTC(2026, 0, 31, 23, 59, 58, 990);
    for (let ms = start; ms < start + 2500; ms += 7)
      expect(timestamps.iso(ms)).toBe(new Date(ms).toISOString());
    expect(timestamps.iso(start)).toBe(new Date(start).toISOString());
  });
});
