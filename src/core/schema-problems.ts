import type { z } from "zod";
import type { Problem } from "./errors.js";
import { formatPath, type PathSegment } from "./json-path.js";

/** zod's issues as located problems, for every document flowrun reads (flows, connectors files, test files). */
export function zodProblems(error: z.ZodError, prefix: readonly PathSegment[] = []): Problem[] {
  return error.issues.map((issue) => ({
    path: formatPath([...prefix, ...(issue.path.filter((s) => typeof s !== "symbol") as PathSegment[])]),
    message: describeIssue(issue),
    severity: "error",
  }));
}

/** zod says "Unrecognized key" where a flow author wants to know which field is unknown. */
function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys")
    return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  return issue.message;
}
