import { distance } from "fastest-levenshtein";

/**
 * The known name closest to a misspelt one (`lookpu` -> `lookup`, `orderID` -> `orderId`), when it is close
 * enough to be what was meant: at most a third of the name's letters differ (case differences count half), so a
 * name of one or two characters gets no suggestion.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    if (candidate === name) continue;
    const folded = distance(name.toLowerCase(), candidate.toLowerCase());
    const score = folded + (distance(name, candidate) - folded) / 2;
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  const limit = Math.floor(name.length / 3);
  return best !== undefined && bestScore <= limit ? best : undefined;
}

/** `; did you mean "x"?` when a close name exists, else "". */
export function didYouMean(name: string, known: Iterable<string>): string {
  const closest = closestName(name, known);
  return closest === undefined ? "" : `; did you mean "${closest}"?`;
}
