import type { z } from "zod";
import type { HttpMethod } from "../../core/http-types.js";
import type { AuthSettings } from "../auth/strategies.js";
import { ConnectorError } from "../errors.js";

/** Reads one secret field of a connector (`auth.clientSecret`, `privateKey`, ...), resolved. */
export type SecretReader = (field: string) => string;

export interface ConnectorAuth {
  readonly auth: AuthSettings;
  /** Lifetime assumed when a token answer has no `expires_in` and the token is not a JWT, in seconds. */
  readonly defaultLifetimeSeconds: number;
  /** Requests go to the token answer's `instance_url` (Salesforce without a base URL override). */
  readonly baseUrlFromToken: boolean;
}

/** Where requests and token requests go, per-type defaults that depend on other fields resolved. */
export interface ConnectorEndpoints {
  /** Undefined while only the token answer can tell (Salesforce's `instance_url`). */
  readonly baseUrl: string | undefined;
  /** Undefined for tokenless types, and for Google until its key (a secret) names one. */
  readonly tokenUrl: string | undefined;
}

/** A URL a connector sends credentials or requests to, by its dotted field name. */
export interface ConnectorUrl {
  readonly field: string;
  readonly url: string;
}

/** A GET that proves a connector's credentials work: any 2xx answer is success. */
export interface ConnectivityProbe {
  /** Dotted field the URL comes from, named in messages. */
  readonly field: string;
  readonly url: string;
  /** Read only once the URL passed its checks, so a bad URL is reported before a missing secret. */
  credentials(): {
    readonly headers: Readonly<Record<string, string>>;
    /** Every form of the secrets sent, scrubbed from whatever the server answers before it is quoted. */
    readonly secrets: readonly string[];
  };
}

/** A private key of the right kind that signs nothing real, for replay (which holds no secrets). */
export type ThrowawayKey = (kind: "rsa" | "ec") => string;

/** What a connector type declares about itself: everything flowrun needs to know about the type, in one place. */
export interface ConnectorTypeDescriptor<C extends { readonly type: string; readonly name: string }> {
  readonly type: C["type"];
  /** The type's variant of the connectors file (defaults included); `type` is its literal. */
  readonly schema: z.ZodType<C>;
  /** How many connectors of this type one organisation may have; undefined: no limit. */
  readonly limitPerOrganisation?: number;
  /** Where the type keeps its secrets, as paths inside the connector. */
  readonly secretPaths: readonly (readonly string[])[];
  /** The URLs the connector sends credentials or requests to, as configured (defaults applied). */
  urls(connector: C): ConnectorUrl[];
  endpoints(connector: C): ConnectorEndpoints;
  /** How a request is authorised, secrets read through `secret`. */
  authenticate(connector: C, secret: SecretReader): ConnectorAuth;
  /** Methods the connector allows; undefined means every method. */
  allowedMethods?(connector: C): readonly HttpMethod[] | undefined;
  /**
   * The request that checks connectivity, `"no-validation-url"` when the type can check but the connector names
   * nothing to check against; absent or undefined: this type or configuration cannot be checked.
   */
  connectivityProbe?(connector: C, secret: SecretReader): ConnectivityProbe | "no-validation-url" | undefined;
  /** The type as messages name it, when its configuration matters (default: the type). */
  describe?(connector: C): string;
  /** CCAI configurations may refer to connectors of this type, which then cannot be deleted. */
  readonly servesCcaiConfigs?: boolean;
  /** A stand-in of the right shape for a secret replay cannot resolve; undefined: any text will do. */
  replayPlaceholder?(connector: C, field: string, throwawayKey: ThrowawayKey): string | undefined;
}

/** Every descriptor, seen from code that handles all connectors alike. */
export type AnyConnectorTypeDescriptor = ConnectorTypeDescriptor<{
  readonly type: string;
  readonly name: string;
}>;

/**
 * A descriptor whose methods see the connector its schema parses. `S` stays exact so that the list in index.ts
 * can build the discriminated union (and the `Connector` type) from the variants.
 */
export function defineConnectorType<S extends z.ZodType<{ readonly type: string; readonly name: string }>>(
  descriptor: Omit<ConnectorTypeDescriptor<z.output<S>>, "schema"> & { readonly schema: S },
): Omit<ConnectorTypeDescriptor<z.output<S>>, "schema"> & { readonly schema: S } {
  return descriptor;
}

/** An hour when the vendor documents nothing else. */
export const DEFAULT_LIFETIME_SECONDS = 3600;

/** Settings whose tokens live as long as the vendor documents nothing else, served from the configured base URL. */
export function plainAuth(
  auth: AuthSettings,
  defaultLifetimeSeconds = DEFAULT_LIFETIME_SECONDS,
): ConnectorAuth {
  return { auth, defaultLifetimeSeconds, baseUrlFromToken: false };
}

export function requireUrl(url: string | undefined, connector: { name: string }, what: string): string {
  if (!url) throw new ConnectorError("connector-incomplete", `connector "${connector.name}" has no ${what}`);
  return url;
}

export function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** Adds each URL that is set, in order. */
export function definedUrls(...urls: [field: string, url: string | undefined][]): ConnectorUrl[] {
  return urls.flatMap(([field, url]) => (url === undefined ? [] : [{ field, url }]));
}

/** The connector fields a refresh-token grant with the client in the form body reads. */
interface BodyClientRefreshTokenFields {
  readonly resourceDomainUrl: string;
  readonly tokenUrl: string;
  readonly clientId: string;
}

/**
 * The descriptor parts of a refresh-token grant ([RFC 6749 section 6](https://www.rfc-editor.org/rfc/rfc6749#section-6))
 * whose vendor takes the client in the form body (Webex, Google CCAI): secrets, URLs, endpoints, authentication.
 */
export function bodyClientRefreshToken<C extends BodyClientRefreshTokenFields>() {
  return {
    secretPaths: [["clientSecret"], ["refreshToken"]] as const,
    urls: (connector: C) =>
      definedUrls(["resourceDomainUrl", connector.resourceDomainUrl], ["tokenUrl", connector.tokenUrl]),
    endpoints: (connector: C): ConnectorEndpoints => ({
      baseUrl: connector.resourceDomainUrl,
      tokenUrl: connector.tokenUrl,
    }),
    authenticate: (connector: C, secret: SecretReader) =>
      plainAuth({
        kind: "refresh-token",
        tokenUrl: connector.tokenUrl,
        client: { clientId: connector.clientId, clientSecret: secret("clientSecret"), clientAuth: "body" },
        refreshToken: secret("refreshToken"),
      }),
  };
}
