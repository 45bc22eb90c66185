import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CONNECTOR_TYPES } from "../../src/connectors/schema.js";
import { CONNECTOR_TYPE_DESCRIPTORS, findConnectorType } from "../../src/connectors/types/index.js";

describe("the list of connector types", () => {
  it("names each type once, and each descriptor's schema variant has its type as the literal", () => {
    const types = CONNECTOR_TYPE_DESCRIPTORS.map((descriptor) => descriptor.type);
    expect(new Set(types).size).toBe(types.length);
    expect([...CONNECTOR_TYPES]).toEqual(types);
    for (const descriptor of CONNECTOR_TYPE_DESCRIPTORS) {
      const schema = descriptor.schema as unknown as z.ZodObject<{ type: z.ZodLiteral<string> }>;
      expect(schema).toBeInstanceOf(z.ZodObject);
      expect(schema.shape.type.value).toBe(descriptor.type);
      expect(findConnectorType(descriptor.type)).toBe(descriptor);
    }
    expect(findConnectorType("no-such-type")).toBeUndefined();
  });
});
