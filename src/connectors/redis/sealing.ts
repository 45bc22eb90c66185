import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { FlowrunError } from "../../core/errors.js";

/** The environment variable that holds the fleet's token key. */
export const TOKEN_KEY_ENV = "FLOWRUN_TOKEN_KEY";

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = "v1";

/** FLOWRUN_TOKEN_KEY is missing, malformed, or is not the key the stored values were sealed with. */
export class TokenKeyError extends FlowrunError {
  constructor(message: string) {
    super("token-key", message);
    this.name = "TokenKeyError";
  }
}

/**
 * AES-256-GCM under the fleet's token key. Every value is bound to where it is stored (the Redis key name
 * as additional authenticated data), so a value copied to another key does not open. Names derived from secrets
 * (fingerprints in key names) are HMACs under a key derived from the same key, never plain hashes: a plain hash of
 * a weak password could be guessed offline from a key listing.
 */
export class Sealer {
  readonly #key: Buffer;
  readonly #nameKey: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new TokenKeyError(`the token key must be ${KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
    this.#nameKey = createHmac("sha256", this.#key).update("flowrun key names").digest();
  }

  static fromBase64(text: string | undefined, name = "the token key"): Sealer {
    const hint =
      "generate one with: node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\"";
    if (text === undefined || text.trim() === "")
      throw new TokenKeyError(
        `${name} is not set; Redis needs it to encrypt shared tokens and secrets (base64 of 32 bytes; ${hint})`,
      );
    const trimmed = text.trim();
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed))
      throw new TokenKeyError(`${name} is not base64 (expected base64 of 32 bytes; ${hint})`);
    const key = Buffer.from(trimmed, "base64");
    if (key.length !== KEY_BYTES)
      throw new TokenKeyError(`${name} decodes to ${key.length} bytes, expected ${KEY_BYTES} (${hint})`);
    return new Sealer(key);
  }

  /** `v1.<base64 iv | tag | ciphertext>`, bound to `place`. */
  seal(plain: string, place: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(place, "utf8"));
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return `${FORMAT}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
  }

  /** The plain text; a TokenKeyError when the value was sealed under another key or for another place. */
  open(sealed: string, place: string): string {
    const [format, payload] = sealed.split(".", 2);
    const raw = format === FORMAT && payload ? Buffer.from(payload, "base64") : Buffer.alloc(0);
    if (raw.length < IV_BYTES + TAG_BYTES)
      throw new TokenKeyError(`the value stored at ${place} is not a sealed value`);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(place, "utf8"));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        "utf8",
      );
    } catch {
      throw new TokenKeyError(
        `the value stored at ${place} does not open with ${TOKEN_KEY_ENV}: it was written under another key ` +
          "(every process of a fleet needs the same key)",
      );
    }
  }

  /** A short keyed hash for key names: identifies a value without revealing or allowing guesses of it. */
  nameFor(material: string): string {
    return createHmac("sha256", this.#nameKey).update(material).digest("base64url").slice(0, 22);
  }
}
