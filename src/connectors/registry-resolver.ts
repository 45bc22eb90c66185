import type { Dispatcher } from "undici";
import type { ConnectorHandle, ConnectorResolver, ConnectorStatus } from "../core/connector-seam.js";
import { describeError } from "../core/errors.js";
import type { ConnectorTransportSettings } from "../http/dispatchers.js";
import { isTokenless } from "./auth/strategies.js";
import type { ConnectorCatalog } from "./catalog.js";
import { connectorAuth } from "./connector-auth.js";
import { type ConnectorIdentity, connectorHandle } from "./connector-handle.js";
import { AuthError } from "./errors.js";
import type { HeldRefreshToken } from "./refresh-chain.js";
import type { ConnectorRegistry } from "./registry.js";
import { allowedMethods, connectorExpirySettings, tokenExpiryCheck } from "./request-rules.js";
import type { Connector } from "./schema.js";
import { resolveSecret, secretFields } from "./secrets.js";
import type { TokenCache } from "./token-cache.js";
import { connectorTransport } from "./transport.js";
import { connectorEndpoints, urlProblem } from "./url-rules.js";

/**
 * What the engine needs from the registry at run time: the catalog's lookups and change events, plus re-reading
 * the store and keeping a refresh token the token endpoint rotated. No admin operation.
 */
export type RuntimeConnectors = ConnectorCatalog & Pick<ConnectorRegistry, "refresh" | "rotateRefreshToken">;

export interface RegistryResolverOptions {
  readonly tokenCache: TokenCache;
  /** Environment for `{ env }` secrets. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Folder `{ file }` secrets are relative to (the connectors file's). Default the working directory. */
  readonly baseDir?: string;
  /** Per connector name or id, the status runs see instead of the file's (replay's `connectorStatus`). */
  readonly statusOverrides?: Readonly<Record<string, ConnectorStatus | "deleted">>;
  /** A value for a secret that cannot be resolved (replay has no real secrets); undefined keeps the error. */
  readonly secretFallback?: (connector: Connector, field: string) => string | undefined;
  /** Accept plain `http://` token URLs on loopback hosts (the engine's `allowLoopbackHttp`). Default false. */
  readonly allowLoopbackHttp?: boolean;
  /**
   * Rotated refresh tokens are kept by the shared token store (Redis), keyed by the configured one, instead of
   * being written into the connector: an admin's later edit of the field then wins by itself. Default false.
   */
  readonly sharedRefreshTokens?: boolean;
  /** Told about things worth a warning (a rotated refresh token that cannot be stored). */
  readonly onWarning?: (message: string) => void;
  /**
   * The dispatcher of a connector with its own proxy or TLS settings (the engine's). Without it those settings are
   * ignored, their secrets not even read.
   */
  readonly connectorDispatcher?: (settings: ConnectorTransportSettings) => Dispatcher | undefined;
  /** Told every secret value as resolved and every refresh token as issued (the engine's SecretScrubber). */
  readonly onSecret?: (value: string) => void;
}

export interface RegistryResolver extends ConnectorResolver {
  /** Stops following the registry's changes. */
  close(): void;
}

/**
 * Refresh tokens the token endpoint rotated but the registry could not store (the field is `{ env }` or
 * `{ file }`, or the save failed), by connector id, with the stored field they replace. Handles are rebuilt on
 * every change of the connector (deactivate, reactivate), and without this a rebuilt handle would read the
 * environment's refresh token again, which the server has already replaced (RFC 6749 section 6): the connector
 * would fail with invalid_grant until the process restarts. An admin edit of the field itself wins.
 */
class RotatedRefreshTokens {
  private readonly byConnector = new Map<string, { source: string; held: HeldRefreshToken }>();
  private static source(connector: Connector): string {
    return JSON.stringify((connector as { refreshToken?: unknown }).refreshToken ?? null);
  }
  remember(connector: Connector, held: HeldRefreshToken): void {
    this.byConnector.set(connector.id, { source: RotatedRefreshTokens.source(connector), held });
  }
  forget(connectorId: string): void {
    this.byConnector.delete(connectorId);
  }
  /** The rotated token, while the connector's stored field is still the one it replaced. */
  current(connector: Connector): HeldRefreshToken | undefined {
    const remembered = this.byConnector.get(connector.id);
    return remembered?.source === RotatedRefreshTokens.source(connector) ? remembered.held : undefined;
  }
}

function secretReader(
  connector: Connector,
  options: RegistryResolverOptions,
  rotated: RotatedRefreshTokens,
): (field: string) => string {
  const fields = new Map(secretFields(connector).map((field) => [field.field, field.value]));
  return (field) => {
    const value = fields.get(field);
    if (field === "refreshToken") {
      const current = rotated.current(connector);
      if (current !== undefined) return current.refreshToken;
    }
    try {
      if (value === undefined)
        throw new AuthError(`connector "${connector.name}" has no ${field}`, {
          code: "credentials-unavailable",
        });
      const resolved = resolveSecret(connector, field, value, {
        env: options.env ?? process.env,
        baseDir: options.baseDir ?? process.cwd(),
      });
      options.onSecret?.(resolved);
      return resolved;
    } catch (error) {
      const fallback = options.secretFallback?.(connector, field);
      if (fallback !== undefined) return fallback;
      throw error;
    }
  };
}

/** Stores a rotated refresh token in the registry, or remembers it (with a warning) when it cannot be stored. */
function refreshTokenKeeper(
  registry: RuntimeConnectors,
  connector: Connector,
  rotated: RotatedRefreshTokens,
  onWarning: ((message: string) => void) | undefined,
  onSecret: ((value: string) => void) | undefined,
): (rotated: HeldRefreshToken) => Promise<void> {
  return async (held) => {
    onSecret?.(held.refreshToken);
    let failure: unknown;
    const stored = await registry
      .rotateRefreshToken(connector.id, held.refreshToken, held.generation)
      .catch((error: unknown) => {
        failure = error;
        return false;
      });
    if (stored) {
      rotated.forget(connector.id);
      return;
    }
    // The current connector object: a rebuilt handle compares its refresh token field with this one.
    rotated.remember((registry.resolve(connector.id) as Connector | undefined) ?? connector, held);
    onWarning?.(
      failure === undefined
        ? `connector "${connector.name}": the token endpoint rotated the refresh token, but it comes from an environment variable or a file and cannot be stored; this process keeps using the new one`
        : `connector "${connector.name}": the token endpoint rotated the refresh token, but saving it failed (${describeError(failure)}); this process keeps using the new one`,
    );
  };
}

function generationOf(connector: Connector): number {
  return ("refreshTokenGeneration" in connector ? connector.refreshTokenGeneration : undefined) ?? 0;
}

/**
 * The refresh token the store holds now, when it is kept in the connector itself (not `{ env }`/`{ file }`): the
 * store is read again first, since another process may have rotated the token since this one last looked.
 */
async function storedRefreshToken(
  registry: RuntimeConnectors,
  id: string,
): Promise<HeldRefreshToken | undefined> {
  await registry.refresh().catch(() => undefined);
  const current = registry.resolve(id) as Connector | undefined;
  if (!current || !("refreshToken" in current) || typeof current.refreshToken !== "string") return undefined;
  return { refreshToken: current.refreshToken, generation: generationOf(current) };
}

/** The connector's auth strategy, built at its first request so that a missing secret fails that request. */
function authorizingHandle(
  registry: RuntimeConnectors,
  connector: Connector,
  identity: ConnectorIdentity,
  expiry: ReturnType<typeof connectorExpirySettings>,
  options: RegistryResolverOptions,
  rotated: RotatedRefreshTokens,
): ConnectorHandle {
  let auth: ReturnType<typeof connectorAuth>;
  let dispatcher: Dispatcher | undefined;
  try {
    const secret = secretReader(connector, options, rotated);
    auth = connectorAuth(connector, secret);
    const transport = options.connectorDispatcher
      ? connectorTransport(connector, secret, (message) => options.onWarning?.(message))
      : undefined;
    if (transport) dispatcher = options.connectorDispatcher?.(transport);
  } catch (error) {
    throw error instanceof AuthError
      ? error
      : new AuthError(describeError(error), { code: "credentials-unavailable", cause: error });
  }
  // The registry checks the token URLs a connector configures, but a Google key's token_uri comes from a
  // secret and was never checked: without this, a key naming http://any-host would have its signed assertion
  // sent in clear text. Every token URL gets the https rule before anything is sent.
  if (!isTokenless(auth.auth)) {
    const problem = urlProblem(auth.auth.tokenUrl, { allowLoopbackHttp: options.allowLoopbackHttp });
    if (problem)
      throw new AuthError(`connector "${connector.name}": the token URL ${problem}`, {
        code: "insecure-token-url",
      });
  }
  return connectorHandle(
    {
      ...identity,
      ...auth,
      tokenExpiredStatuses: expiry.statuses,
      tokenExpiredWhen: expiry.when,
      strictTokenType: connector.strictTokenType === true,
      dispatcher,
      // With a shared token store the rotated token is kept there (keyed by the configured one), not in the connector.
      onRefreshTokenRotated: options.sharedRefreshTokens
        ? undefined
        : refreshTokenKeeper(registry, connector, rotated, options.onWarning, options.onSecret),
      refreshTokenGeneration: rotated.current(connector)?.generation ?? generationOf(connector),
      storedRefreshToken: options.sharedRefreshTokens
        ? undefined
        : () => storedRefreshToken(registry, connector.id),
      onBackgroundError: (error) =>
        options.onWarning?.(
          `connector "${connector.name}": background token refresh failed: ${describeError(error)}`,
        ),
    },
    options.tokenCache,
  );
}

/**
 * Connectors from a registry as the http-request activity sees them. A handle is built once per version of a
 * connector (the registry replaces a connector object on every change) and its secrets are read at the first
 * request, so an unresolvable secret fails that request with kind `auth` instead of the flow's compilation.
 * Deactivating, editing or deleting a connector drops its cached tokens at once.
 */
export function registryResolver(
  registry: RuntimeConnectors,
  options: RegistryResolverOptions,
): RegistryResolver {
  const handles = new WeakMap<Connector, ConnectorHandle>();
  const overrides = new Map(
    Object.entries(options.statusOverrides ?? {}).map(([key, status]) => [key.toLowerCase(), status]),
  );
  const rotated = new RotatedRefreshTokens();
  const unsubscribe = registry.on("change", ({ kind, connector }) => {
    if (kind === "refresh-token-rotated") options.tokenCache.refreshTokenRotated(connector.id);
    else options.tokenCache.dropConnector(connector.id);
    if (kind === "deleted") rotated.forget(connector.id);
  });
  const overrideFor = (connector: Connector) =>
    overrides.get(connector.id.toLowerCase()) ?? overrides.get(connector.name.toLowerCase());

  const build = (connector: Connector, status: ConnectorStatus): ConnectorHandle => {
    const expiry = connectorExpirySettings(connector);
    const identity: ConnectorIdentity = {
      id: connector.id,
      name: connector.name,
      type: connector.type,
      status,
      baseUrl: connectorEndpoints(connector).baseUrl,
      allowedMethods: allowedMethods(connector),
      propagateTraceContext: connector.propagateTraceContext === true,
    };
    let inner: ConnectorHandle | undefined;
    return {
      ...identity,
      tokenExpired: tokenExpiryCheck(expiry.statuses, expiry.when),
      authorize: async (request) => {
        inner ??= authorizingHandle(registry, connector, identity, expiry, options, rotated);
        return inner.authorize(request);
      },
    };
  };

  return {
    resolve(nameOrId) {
      const connector = registry.resolve(nameOrId) as Connector | undefined;
      if (!connector) return undefined;
      const override = overrideFor(connector);
      if (override === "deleted") return undefined;
      const status = override ?? connector.status;
      if (status !== connector.status) return build(connector, status);
      let handle = handles.get(connector);
      if (!handle) {
        handle = build(connector, status);
        handles.set(connector, handle);
      }
      return handle;
    },
    defines: (nameOrId) => registry.resolve(nameOrId) !== undefined,
    names: () => registry.names(),
    close: unsubscribe,
  };
}
