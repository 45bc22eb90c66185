import path from "node:path";
import { z } from "zod";
import { ValidationError } from "../core/errors.js";
import { HTTP_METHODS } from "../core/http-types.js";
import { readJsonFile } from "../core/json-source.js";
import { zodProblems } from "../core/schema-problems.js";

/** What every recorded secret is replaced by; in a recorded request it matches any value. */
export { REDACTED } from "../core/redact.js";

const headersSchema = z.record(z.string(), z.string());

export const recordedRequestSchema = z.strictObject({
  method: z.enum(HTTP_METHODS),
  url: z.string().min(1).meta({ description: "Absolute URL; query order does not matter when matching" }),
  headers: headersSchema.optional().meta({ description: "Headers that must match (names case-insensitive)" }),
  body: z
    .unknown()
    .optional()
    .meta({ description: "JSON value, form object or text; compared when present" }),
});

export const recordedResponseSchema = z.strictObject({
  status: z.number().int().min(100).max(599),
  headers: headersSchema.optional(),
  body: z.unknown().optional().meta({ description: "JSON value (sent as application/json) or text" }),
  delayMs: z.number().int().min(0).max(60_000).optional().meta({
    description: "The answer comes after this many ms (a delay past the activity's deadline is a timeout)",
  }),
});

/** What an exchange may stand for instead of an answer. */
export const FAULTS = ["timeout", "network"] as const;

export const exchangeSchema = z
  .strictObject({
    request: recordedRequestSchema,
    response: recordedResponseSchema.optional(),
    fault: z.enum(FAULTS).optional().meta({
      description:
        "Instead of a response: timeout (no answer until the activity's deadline) or network (the connection drops)",
    }),
  })
  .superRefine((exchange, ctx) => {
    if (exchange.response !== undefined && exchange.fault !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["fault"],
        message: "an exchange has a response or a fault, not both",
      });
    if (exchange.response === undefined && exchange.fault === undefined)
      ctx.addIssue({ code: "custom", path: [], message: "an exchange needs a response or a fault" });
  })
  .meta({ oneOf: [{ required: ["response"] }, { required: ["fault"] }] });

export const expectationSchema = z.strictObject({
  status: z.enum(["completed", "halted", "failed", "aborted"]).optional(),
  reason: z.string().nullable().optional(),
  endedAt: z.string().nullable().optional(),
  path: z.array(z.string()).optional(),
  variables: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: "Subset of the run's variables" }),
  actions: z
    .array(z.record(z.string(), z.unknown()))
    .optional()
    .meta({ description: "Each action must appear, in this order, as a subset of a recorded action" }),
});

export const testCaseSchema = z.strictObject({
  name: z.string().min(1),
  contact: z.record(z.string(), z.unknown()).optional(),
  variables: z.record(z.string(), z.unknown()).optional(),
  menuInputs: z.array(z.string()).optional(),
  connectorStatus: z.record(z.string(), z.enum(["active", "inactive", "deleted"])).optional(),
  exchanges: z.array(exchangeSchema).default([]),
  allowUnused: z.boolean().optional(),
  expect: expectationSchema.optional(),
});

export const testFileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    flow: z.string().min(1).meta({ description: "Path of the flow, relative to this file" }),
    connectors: z
      .string()
      .optional()
      .meta({ description: "Path of the connectors file, relative to this file" }),
    cases: z.array(testCaseSchema),
  })
  .meta({
    title: "flowrun fixture test",
    description: "Recorded HTTP exchanges and expectations for a flow",
  });

export type RecordedRequest = z.infer<typeof recordedRequestSchema>;
export type RecordedResponse = z.infer<typeof recordedResponseSchema>;
export type Exchange = z.infer<typeof exchangeSchema>;
export type Fault = (typeof FAULTS)[number];
export type Expectation = z.infer<typeof expectationSchema>;
export type TestCase = z.infer<typeof testCaseSchema>;
export type TestFile = z.infer<typeof testFileSchema>;

export interface LoadedTestFile extends TestFile {
  /** The test file's path. */
  readonly file: string;
  readonly flowPath: string;
  readonly connectorsPath: string | undefined;
}

/** Reads and checks a `*.test.json` file; every problem is reported with its JSON path. */
export async function loadTestFile(file: string, displayName = file): Promise<LoadedTestFile> {
  const parsed = testFileSchema.safeParse(await readJsonFile(file, displayName));
  if (!parsed.success) {
    throw new ValidationError(zodProblems(parsed.error), displayName, "invalid-test-file");
  }
  const dir = path.dirname(file);
  return {
    ...parsed.data,
    file,
    flowPath: path.resolve(dir, parsed.data.flow),
    connectorsPath: parsed.data.connectors ? path.resolve(dir, parsed.data.connectors) : undefined,
  };
}
