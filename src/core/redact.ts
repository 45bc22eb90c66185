/** What every secret is replaced by in traces, errors and recorded fixtures. */
export const REDACTED = "[REDACTED]";

/**
 * Header and query-parameter names whose values are treated as secrets. Deliberately broad: redacting a harmless
 * value costs a little readability, leaking a credential costs an incident.
 */
const SECRET_NAME =
  /token|secret|passw(?:or)?d|pwd|api[-_]?key|key$|^key[-_.]|authorization|cookie|credential|signature|session|assertion/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * The secrets in a credential header value: the value itself and, for `Scheme credential` values ("Basic abc=",
 * "Bearer xyz"), the credential alone, which a server may echo without its scheme. For Basic
 * ([RFC 7617 section 2](https://www.rfc-editor.org/rfc/rfc7617#section-2)) also the decoded `user:password` and
 * the password, which a server may quote back decoded.
 */
export function credentialSecrets(headerValue: string): string[] {
  const space = headerValue.indexOf(" ");
  if (space < 0) return [headerValue];
  const credential = headerValue.slice(space + 1);
  if (credential === "") return [headerValue];
  if (headerValue.slice(0, space).toLowerCase() !== "basic") return [headerValue, credential];
  const decoded = Buffer.from(credential, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return [headerValue, credential];
  return [headerValue, credential, decoded, decoded.slice(colon + 1)];
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
 * The ways a secret is spelled where a server may echo it: as is, URL-encoded (query, form body), base64 (Basic
 * credentials), and JSON-escaped (a PEM key's newlines inside a JSON string).
 */
export function secretForms(secret: string): string[] {
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    Buffer.from(secret, "utf8").toString("base64"),
    Buffer.from(secret, "utf8").toString("base64url"),
    JSON.stringify(secret).slice(1, -1),
  ]);
  return [...forms];
}

/**
 * Removes known secret values from a message (an error text from a server or a library may echo a header), in
 * every form `secretForms` lists, longest first so that a secret containing another is replaced whole.
 * Values shorter than 4 characters are left alone: replacing them would mangle ordinary words.
 */
export function scrubSecrets(message: string, secrets: Iterable<string>): string {
  return replaceSecretForms(message, secretFormsLongestFirst(secrets));
}

/** Every form (`secretForms`) of these secrets, 4 characters or longer, longest first: computed once, used often. */
export function secretFormsLongestFirst(secrets: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const form of secretForms(secret)) if (form.length >= 4) forms.add(form);
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/** Replaces each of `forms` (longest first, from secretFormsLongestFirst) in `message` by `[REDACTED]`. */
export function replaceSecretForms(message: string, forms: readonly string[]): string {
  let scrubbed = message;
  for (const form of forms) {
    if (scrubbed.includes(form)) scrubbed = scrubbed.replaceAll(form, REDACTED);
  }
  return scrubbed;
}
