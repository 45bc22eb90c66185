/** What every secret is replaced by in traces, errors and recorded fixtures. */
export const REDACTED = "[REDACTED]";

/**
 * Header and query-parameter names whose values are treated as secrets. Deliberately broad: redacting a harmless
 * value costs a little readability, leaking a credential costs an incident.
 */
const SECRET_NAME =
  /token|secret|passw(?:or)?d|pwd|api[-_]?key|key$|^key[-_.]|authorization|cookie|credential|signature|session|assertion/i;

/** Unanchored superset of SECRET_NAME: no match anywhere in a query string means no secret-looking name in it. */
const MAYBE_SECRET_QUERY =
  /token|secret|passw|pwd|key|authorization|cookie|credential|signature|session|assertion/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * Headers as they may be shown: values of secret-looking names and of every header a connector added are
 * replaced by `[REDACTED]`. Names are lower-cased, as sent on the wire by undici.
 */
export function redactHeaders(
  headers: Readonly<Record<string, string>>,
  connectorHeaderNames: ReadonlySet<string> = new Set(),
): Record<string, string> {
  const shown: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    shown[lower] = connectorHeaderNames.has(lower) || isSecretName(lower) ? REDACTED : value;
  }
  return shown;
}

/** A URL as it may be shown: secret-looking query parameters and any user info replaced by `[REDACTED]`. */
export function redactUrl(url: URL): string {
  // Most URLs carry nothing secret-looking anywhere in their query: they skip the copy and re-encoding below.
  if (!url.username && !url.password && !MAYBE_SECRET_QUERY.test(url.search)) return url.href;
  const shown = new URL(url.href);
  if (shown.username) shown.username = REDACTED;
  if (shown.password) shown.password = REDACTED;
  if (shown.search) {
    const params = new URLSearchParams(shown.search);
    let changed = false;
    for (const name of new Set(params.keys())) {
      if (isSecretName(name)) {
        params.set(name, REDACTED);
        changed = true;
      }
    }
    if (changed) shown.search = encodeQuery(params);
  }
  // URL percent-encodes the brackets of [REDACTED] in the user info; show them as written.
  return shown.href.replaceAll("%5BREDACTED%5D", REDACTED);
}

/** URLSearchParams encoding with `%20` for spaces, as encodeURIComponent would (a literal `+` is `%2B`). */
export function encodeQuery(params: URLSearchParams): string {
  return params.toString().replaceAll("+", "%20");
}

/**
 * Removes known secret values from a text that came from elsewhere (a server's answer or a library's error may
 * echo a header), also in their base64 form (a Basic header) and URL-encoded form (a query or form body).
 * Longer forms go first so that a secret containing another is replaced whole. Values shorter than 4 characters
 * are left alone: replacing them would mangle ordinary words.
 */
export function scrubSecrets(text: string, secrets: Iterable<string>): string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    forms.add(secret);
    forms.add(Buffer.from(secret).toString("base64"));
    forms.add(encodeURIComponent(secret));
  }
  let scrubbed = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    if (scrubbed.includes(form)) scrubbed = scrubbed.replaceAll(form, REDACTED);
  }
  return scrubbed;
}
