import type { z } from "zod";
import { describeError, type Problem, ValidationError } from "../core/errors.js";
import { formatPath, type PathSegment } from "../core/json-path.js";
import { zodProblems } from "../core/schema-problems.js";
import { didYouMean } from "../core/suggest.js";
import type { ActivityDefinition, CompileContext, VariableDeclaration } from "./activity.js";
import {
  type CompiledExpression,
  type CompiledTemplate,
  compileExpression,
  compileTemplate,
  compileValueTemplate,
} from "./expressions.js";
import {
  checkNames,
  checkNeverSet,
  checkUnlinkedOutcomes,
  missingActivityMessage,
  type NameReference,
  type Report,
} from "./flow-checks.js";
import { flowEnvelopeSchema } from "./flow-schema.js";
import type { EngineServices } from "./services.js";
import { coerce } from "./variables.js";

export interface CompiledActivity {
  readonly id: string;
  readonly type: string;
  readonly definition: ActivityDefinition;
  readonly compiled: unknown;
  /** Outcome -> next activity, after the fallbacks (timeout -> error -> onError) were resolved at compile time. */
  readonly links: ReadonlyMap<string, CompiledActivity>;
}

export interface FlowPlan {
  readonly name: string;
  readonly description: string | undefined;
  readonly variables: ReadonlyMap<string, VariableDeclaration>;
  /** Variable defaults, already converted to their types (null when no default). */
  readonly defaults: Readonly<Record<string, unknown>>;
  readonly start: CompiledActivity;
  /** Where a failure without a link of its own goes. */
  readonly onError: CompiledActivity | undefined;
  readonly activities: ReadonlyMap<string, CompiledActivity>;
  /** Problems that do not stop the flow from running, such as unreachable activities. */
  readonly warnings: readonly Problem[];
}

// Names must be valid Liquid identifiers; Liquid's literals cannot be variables.
const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
// "__proto__" too: results hold variables and outputs in plain objects, where it would set a prototype.
const RESERVED = new Set(["contact", "true", "false", "nil", "null", "empty", "blank", "__proto__"]);

const UNUSABLE_TEMPLATE: CompiledTemplate = { source: "", names: [], isConstant: true, render: () => "" };
const UNUSABLE_EXPRESSION: CompiledExpression = { source: "", names: [], evaluate: () => null };

type Flow = z.infer<typeof flowEnvelopeSchema>;
type ParsedActivity = { definition: ActivityDefinition; def: { type: string } };
type MutableCompiledActivity = Omit<CompiledActivity, "links"> & { links: Map<string, CompiledActivity> };

/**
 * Validates a flow document (schema, names, links, templates, expressions, JSON paths) and pre-parses everything
 * a run evaluates. Collects every problem and throws one ValidationError listing them all.
 */
export function compileFlow(
  document: unknown,
  registry: ReadonlyMap<string, ActivityDefinition>,
  services: EngineServices,
  source?: string,
): FlowPlan {
  const problems: Problem[] = [];
  const report: Report = (at, message, severity = "error") =>
    problems.push({ path: formatPath(at), message, severity });

  const envelope = flowEnvelopeSchema.safeParse(document);
  if (!envelope.success) {
    problems.push(...zodProblems(envelope.error, []));
    // Per-activity checks still run when the envelope's problems are elsewhere, so one pass shows everything.
    if (!isRecord(document) || !isRecord(document.activities)) throw new ValidationError(problems, source);
  }
  const flow = (envelope.success ? envelope.data : document) as Flow;
  const { variables, defaults } = compileVariables(document, flow, report);
  const definitions = parseActivities(flow, registry, variables, problems, report);
  const references: NameReference[] = [];
  const assigned = new Set<string>();
  const compiledActivities = compileActivities(definitions, variables, services, report, {
    references,
    assigned,
  });

  const ids = new Set(Object.keys(flow.activities));
  checkNames(references, variables.keys(), ids, report);
  const unset = [...variables].filter(
    ([name, declaration]) => !assigned.has(name) && !Object.hasOwn(declaration, "default"),
  );
  checkNeverSet(references, new Set(unset.map(([name]) => name)), report);
  const onError = typeof flow.onError === "string" ? flow.onError : undefined;
  if (typeof flow.start === "string" && !ids.has(flow.start)) {
    report(["start"], `start activity "${flow.start}" does not exist${didYouMean(flow.start, ids)}`);
  }
  if (onError !== undefined && !ids.has(onError))
    report(["onError"], `onError activity "${onError}" does not exist${didYouMean(onError, ids)}`);
  const edges = linkActivities(definitions, compiledActivities, ids, onError, report);
  // Unreachable activities are only worth a warning once the errors are fixed: an error (a mistyped link, a
  // refused activity) would otherwise bring a cascade of warnings about what follows it.
  const hasErrors = problems.some((problem) => problem.severity === "error");
  if (!hasErrors && typeof flow.start === "string" && ids.has(flow.start))
    reportUnreachable(flow.start, edges, ids, onError, report);

  if (hasErrors) throw new ValidationError(problems, source);
  return {
    name: flow.name,
    description: flow.description,
    variables,
    defaults,
    start: compiledActivities.get(flow.start)! as CompiledActivity,
    onError:
      onError === undefined ? undefined : (compiledActivities.get(onError) as CompiledActivity | undefined),
    activities: compiledActivities as ReadonlyMap<string, CompiledActivity>,
    warnings: problems,
  };
}

/** Variable declarations with names checked and defaults converted to their types. */
function compileVariables(
  document: unknown,
  flow: Flow,
  report: Report,
): { variables: Map<string, VariableDeclaration>; defaults: Record<string, unknown> } {
  const variables = new Map<string, VariableDeclaration>();
  const defaults: Record<string, unknown> = Object.create(null);
  const parsedVariables = isRecord(flow.variables) ? flow.variables : {};
  // zod's record output drops a "__proto__" key; the document's own keys show it, so it is reported, not lost.
  const rawVariables = isRecord(document) && isRecord(document.variables) ? document.variables : {};
  for (const name of Object.keys(rawVariables)) {
    if (!Object.hasOwn(parsedVariables, name))
      report(["variables", name], `"${name}" cannot be a variable name`);
  }
  for (const [name, declaration] of Object.entries(parsedVariables)) {
    if (!NAME.test(name) || RESERVED.has(name)) {
      report(
        ["variables", name],
        `"${name}" cannot be a variable name (letters, digits, _ and -, not a Liquid keyword or "contact")`,
      );
    }
    if (!isRecord(declaration)) continue;
    variables.set(name, declaration as VariableDeclaration);
    defaults[name] = null;
    if (Object.hasOwn(declaration, "default")) {
      try {
        defaults[name] = coerce(
          declaration.default,
          (declaration as VariableDeclaration).type,
          name,
          "its default",
        );
      } catch (error) {
        report(["variables", name, "default"], describeError(error));
      }
    }
  }
  return { variables, defaults };
}

/** Activity ids checked and each activity parsed by its type's schema. */
function parseActivities(
  flow: Flow,
  registry: ReadonlyMap<string, ActivityDefinition>,
  variables: ReadonlyMap<string, VariableDeclaration>,
  problems: Problem[],
  report: Report,
): Map<string, ParsedActivity> {
  const definitions = new Map<string, ParsedActivity>();
  const knownTypes = [...registry.keys()].join(", ");
  for (const [id, raw] of Object.entries(flow.activities)) {
    const at: PathSegment[] = ["activities", id];
    if (!NAME.test(id) || RESERVED.has(id)) {
      report(
        at,
        `"${id}" cannot be an activity id (letters, digits, _ and -, not a Liquid keyword or "contact")`,
      );
    } else if (variables.has(id)) {
      report(at, `activity id "${id}" is also a variable name; they share one namespace in templates`);
    }
    if (!isRecord(raw) || typeof raw.type !== "string") continue;
    const definition = registry.get(raw.type);
    if (!definition) {
      report([...at, "type"], `unknown activity type "${raw.type}"; known types: ${knownTypes}`);
      continue;
    }
    const parsed = definition.schema.safeParse(raw);
    if (!parsed.success) {
      problems.push(...zodProblems(parsed.error, at));
      continue;
    }
    definitions.set(id, { definition, def: parsed.data });
  }
  return definitions;
}

function compileActivities(
  definitions: ReadonlyMap<string, ParsedActivity>,
  variables: ReadonlyMap<string, VariableDeclaration>,
  services: EngineServices,
  report: Report,
  seen: { references: NameReference[]; assigned: Set<string> },
): Map<string, MutableCompiledActivity> {
  const compiledActivities = new Map<string, MutableCompiledActivity>();
  for (const [id, { definition, def }] of definitions) {
    const at: PathSegment[] = ["activities", id];
    const ctx = compileContext(id, at, variables, services, report, seen);
    let compiled: unknown;
    try {
      compiled = definition.compile(def, ctx);
    } catch (error) {
      report(at, describeError(error));
      continue;
    }
    compiledActivities.set(id, { id, type: definition.type, definition, compiled, links: new Map() });
  }
  return compiledActivities;
}

/**
 * Links: every outcome named must exist, every target must exist; then fallbacks are resolved once, here.
 * Returns the graph's edges (activity id -> the ids it can go to), for the reachability check.
 */
function linkActivities(
  definitions: ReadonlyMap<string, ParsedActivity>,
  compiledActivities: ReadonlyMap<string, MutableCompiledActivity>,
  ids: ReadonlySet<string>,
  onError: string | undefined,
  report: Report,
): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const [id, { definition, def }] of definitions) {
    const outcomes = definition.outcomes(def);
    const next = (def as { next?: Record<string, string> }).next ?? {};
    const links = definition.links ? definition.links(def) : next;
    const targets = new Set<string>();
    for (const [outcome, target] of Object.entries(links)) {
      // Links that are not under `next` come from an activity's own map (the cases of `case`).
      const at: PathSegment[] = ["activities", id, Object.hasOwn(next, outcome) ? "next" : "cases", outcome];
      if (!outcomes.includes(outcome)) {
        report(
          at,
          outcomes.length
            ? `"${outcome}" is not an outcome of ${definition.type}${didYouMean(outcome, outcomes)}; its outcomes are ${outcomes.join(", ")}`
            : `${definition.type} ends the run and has no outcomes`,
        );
        continue;
      }
      if (!ids.has(target)) {
        report(at, missingActivityMessage(`next of "${id}" (${outcome})`, target, ids));
        continue;
      }
      targets.add(target);
    }
    checkUnlinkedOutcomes(
      { id, type: definition.type, outcomes, errorOutcomes: definition.errorOutcomes, links },
      onError,
      report,
    );
    if (onError !== undefined && definition.errorOutcomes.length > 0) targets.add(onError);
    edges.set(id, targets);
    const node = compiledActivities.get(id);
    if (!node) continue;
    for (const outcome of outcomes) {
      const target = resolveLink(outcome, links, definition.errorOutcomes, onError);
      const targetNode = target === undefined ? undefined : compiledActivities.get(target);
      if (targetNode) node.links.set(outcome, targetNode as CompiledActivity);
    }
  }
  return edges;
}

function reportUnreachable(
  start: string,
  edges: ReadonlyMap<string, ReadonlySet<string>>,
  ids: ReadonlySet<string>,
  onError: string | undefined,
  report: Report,
): void {
  const reached = new Set<string>([start]);
  const pending = [start];
  while (pending.length > 0) {
    for (const target of edges.get(pending.pop()!) ?? []) {
      if (!reached.has(target)) {
        reached.add(target);
        pending.push(target);
      }
    }
  }
  for (const id of ids) {
    if (!reached.has(id) && id !== onError)
      report(["activities", id], `activity "${id}" is unreachable from start`, "warning");
  }
}

/** An unlinked `timeout` uses the `error` link; an unlinked error outcome goes to `onError`. */
function resolveLink(
  outcome: string,
  links: Record<string, string>,
  errorOutcomes: readonly string[],
  onError: string | undefined,
): string | undefined {
  if (Object.hasOwn(links, outcome)) return links[outcome];
  if (outcome === "timeout" && Object.hasOwn(links, "error")) return links.error;
  if (errorOutcomes.includes(outcome)) return onError;
  return undefined;
}

function compileContext(
  activityId: string,
  at: readonly PathSegment[],
  variables: ReadonlyMap<string, VariableDeclaration>,
  services: EngineServices,
  report: Report,
  seen: { references: NameReference[]; assigned: Set<string> },
): CompileContext {
  const guarded =
    <T extends { names: readonly string[] }>(parse: (source: string) => T, fallback: T) =>
    (where: readonly PathSegment[], source: string): T => {
      try {
        const parsed = parse(source);
        if (parsed.names.length > 0) seen.references.push({ at: [...at, ...where], names: parsed.names });
        return parsed;
      } catch (error) {
        report([...at, ...where], describeError(error));
        return fallback;
      }
    };
  return {
    activityId,
    variables,
    services,
    problem: (where, message, severity) => report([...at, ...where], message, severity),
    assigns: (variable) => seen.assigned.add(variable),
    template: guarded(compileTemplate, UNUSABLE_TEMPLATE),
    valueTemplate: guarded(compileValueTemplate, UNUSABLE_EXPRESSION),
    expression: guarded(compileExpression, UNUSABLE_EXPRESSION),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
