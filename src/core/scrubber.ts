import { credentialSecrets, replaceSecretForms, secretFormsLongestFirst } from "./redact.js";

/** How deep a value is shown; deeper parts are replaced by DEEP_MARKER, so printing never overflows the stack. */
const SHOWN_DEPTH = 32;
const DEEP_MARKER = "[...]";

/**
 * Older secrets are forgotten past this many: a long-lived engine sees a new access token every hour and must not
 * grow without bound. A command (run, record, test) learns far fewer.
 */
const MAX_SECRETS = 1024;

/**
 * The secret values one engine knows, and the one way every output removes them: connector secrets as resolved,
 * access and refresh tokens as issued (the credential headers a connector adds), and the values of secret-named
 * inputs (the CLI learns those before a run). Whatever header, query parameter or variable carries such a value, `scrubText` and `scrubValue` replace
 * it (in every form `secretForms` lists) by `[REDACTED]`.
 */
export class SecretScrubber {
  // Insertion-ordered: the oldest is forgotten first.
  readonly #secrets = new Set<string>();
  /** Every form of every secret, longest first: built on the first scrub after a change, not on every scrub. */
  #forms: string[] | undefined;

  /** Values under 4 characters are ignored (see scrubSecrets). */
  add(secret: string): void {
    if (secret.length < 4) return;
    if (this.#secrets.has(secret)) {
      // Seen again: still in use, so it becomes the newest and is not the next one forgotten.
      this.#secrets.delete(secret);
      this.#secrets.add(secret);
      return;
    }
    this.#secrets.add(secret);
    if (this.#secrets.size > MAX_SECRETS) this.#secrets.delete(this.#secrets.values().next().value!);
    this.#forms = undefined;
  }

  /**
   * A credential header's value (`Bearer abc`, `Basic xyz=`): the whole value and the credential alone. Called for
   * every request: a header seen before is only marked as still in use, without splitting it again.
   */
  addCredentialHeader(value: string): void {
    if (this.#secrets.has(value)) {
      this.#secrets.delete(value);
      this.#secrets.add(value);
      return;
    }
    for (const secret of credentialSecrets(value)) this.add(secret);
  }

  scrubText(text: string): string {
    if (this.#secrets.size === 0) return text;
    this.#forms ??= secretFormsLongestFirst(this.#secrets);
    return replaceSecretForms(text, this.#forms);
  }

  /**
   * A copy of a JSON-like value to show: every string scrubbed, and parts nested deeper than SHOWN_DEPTH replaced by
   * `[...]` (a response nested 100,000 levels deep prints, reports and serialises without overflowing the stack).
   */
  scrubValue<T>(value: T): T {
    return this.#copy(value, 0) as T;
  }

  #copy(value: unknown, depth: number): unknown {
    if (typeof value === "string") return this.scrubText(value);
    if (value === null || typeof value !== "object") return value;
    if (depth >= SHOWN_DEPTH) return DEEP_MARKER;
    if (Array.isArray(value)) return value.map((item) => this.#copy(item, depth + 1));
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) copy[key] = this.#copy(item, depth + 1);
    return copy;
  }
}
