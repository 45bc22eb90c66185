/** Formats a document location as a JSON path: `$.activities.lookup.parseSettings[0].pathExpression`. */
export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function formatPath(segments: readonly PathSegment[]): string {
  let out = "$";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

const SEGMENT = /\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;

/** The segments of a path `formatPath` wrote; stops at the first part it does not recognise. */
export function parsePath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  if (!path.startsWith("$")) return segments;
  SEGMENT.lastIndex = 1;
  for (let match = SEGMENT.exec(path); match; match = SEGMENT.exec(path)) {
    if (match[1] !== undefined) segments.push(match[1]);
    else if (match[2] !== undefined) segments.push(Number(match[2]));
    else segments.push(JSON.parse(match[3]!) as string);
  }
  return segments;
}
