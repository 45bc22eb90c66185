import type { PathSegment } from "../core/json-path.js";
import { didYouMean } from "../core/suggest.js";

/**
 * Checks of a flow as a whole that catch what a run would otherwise find too late: an outcome with nowhere to go,
 * a template reading a name nothing defines. Each returns problems; the compiler decides when to run them.
 */

export type Report = (at: readonly PathSegment[], message: string, severity?: "error" | "warning") => void;

/** Where a template or expression is, and the scope names it reads. */
export interface NameReference {
  readonly at: readonly PathSegment[];
  readonly names: readonly string[];
}

/** The names a flow's templates may read: its variables, its activities' outputs and the contact. */
export function checkNames(
  references: readonly NameReference[],
  variables: Iterable<string>,
  activityIds: Iterable<string>,
  report: Report,
): void {
  const known = new Set<string>(["contact", ...variables, ...activityIds]);
  for (const { at, names } of references) {
    for (const name of new Set(names)) {
      if (known.has(name)) continue;
      // Liquid renders an unknown name as "", so `Order {{ ordrId }} shipped` would play "Order  shipped".
      report(
        at,
        `"${name}" is not a declared variable, an activity or contact: it would read as empty${didYouMean(name, known)}`,
      );
    }
  }
}

/**
 * Variables a template reads that nothing sets: no default and no activity assigning them. Only a run input can
 * give them a value, so a warning (an input may be the design), once per variable, where it is first read.
 */
export function checkNeverSet(
  references: readonly NameReference[],
  unset: ReadonlySet<string>,
  report: Report,
): void {
  const warned = new Set<string>();
  for (const { at, names } of references) {
    for (const name of names) {
      if (!unset.has(name) || warned.has(name)) continue;
      warned.add(name);
      report(
        at,
        `variable "${name}" is read here but never set: it has no default and no activity assigns it, so it is ` +
          "null unless the run is given it",
        "warning",
      );
    }
  }
}

/** What the compiler knows of one activity's outcomes. */
export interface OutcomeLinks {
  readonly id: string;
  readonly type: string;
  readonly outcomes: readonly string[];
  readonly errorOutcomes: readonly string[];
  /** The activity's own links: outcome -> activity id. */
  readonly links: Readonly<Record<string, string>>;
}

/**
 * Outcomes with no link, where a run taking one ends `failed` with `unhandled-outcome`. An ordinary outcome (a
 * menu choice, a condition's `true`) is an error: the flow is incomplete. An error outcome is a warning when the
 * flow has no onError (failing the run may be what the author wants), and nothing when onError catches it, which
 * is what onError is for, unless onError is the failing activity itself.
 */
export function checkUnlinkedOutcomes(
  activity: OutcomeLinks,
  onError: string | undefined,
  report: Report,
): void {
  const { id, type, links, errorOutcomes } = activity;
  const at = ["activities", id, "next"];
  for (const outcome of activity.outcomes) {
    // An unlinked timeout takes the `error` link.
    if (Object.hasOwn(links, outcome) || (outcome === "timeout" && Object.hasOwn(links, "error"))) continue;
    const unhandled = `outcome "${outcome}" of "${id}" (${type}) has no link`;
    if (!errorOutcomes.includes(outcome)) {
      report(at, `${unhandled}: a run that takes it fails unhandled-outcome; add it to next`);
    } else if (onError === undefined) {
      report(
        at,
        `${unhandled} and the flow has no onError: a run that takes it fails unhandled-outcome`,
        "warning",
      );
    } else if (onError === id) {
      report(
        at,
        `${unhandled}, so it goes to onError, which is "${id}" itself: a failure here repeats until the step limit`,
        "warning",
      );
    }
  }
}

/** `points to missing activity "rout"; did you mean "route"?` */
export function missingActivityMessage(subject: string, target: string, ids: Iterable<string>): string {
  return `${subject} points to missing activity "${target}"${didYouMean(target, ids)}`;
}
