import { generateKeyPairSync } from "node:crypto";
import path from "node:path";
import { ConnectorFileStore, MemoryConnectorStore } from "../connectors/file-store.js";
import { ConnectorRegistry } from "../connectors/registry.js";
import { registryResolver } from "../connectors/registry-resolver.js";
import type { Connector, ConnectorsFile } from "../connectors/schema.js";
import { TokenCache } from "../connectors/token-cache.js";
import { createEngine } from "../engine/engine.js";
import type { EngineFactory } from "./runner.js";

let replayKey: string | undefined;
/** A throwaway RSA key: replayed token requests carry `[REDACTED]` assertions, so any key signs them. */
function throwawayPrivateKey(): string {
  replayKey ??= generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
    type: "pkcs8",
    format: "pem",
  }) as string;
  return replayKey;
}

/**
 * Replay has no real secrets (CI does not hold them) and needs none: recorded requests carry `[REDACTED]` where a
 * secret went. An unresolvable secret becomes a placeholder of the right shape.
 */
export function replaySecret(connector: Connector, field: string): string {
  if (field === "privateKey") return throwawayPrivateKey();
  if (field === "serviceAccountKey") {
    return JSON.stringify({
      client_email: `replay@${connector.name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}.invalid`,
      private_key: throwawayPrivateKey(),
      token_uri: "https://oauth2.googleapis.com/token",
    });
  }
  return `replay-placeholder-${field}`;
}

/**
 * Engines for replayed cases: the case's MockAgent as dispatcher, the test file's connectors in memory (a rotated
 * refresh token never rewrites a fixture), the case's `connectorStatus`, and a fresh token cache per case so
 * that each case replays its own token exchanges.
 */
export function replayEngineFactory(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: { egressAllow?: readonly string[] } = {},
): EngineFactory {
  const egressAllow = options.egressAllow;
  const documents = new Map<string, Promise<ConnectorsFile>>();
  const load = (file: string) => {
    let document = documents.get(file);
    if (!document) {
      document = new ConnectorFileStore(file, { allowLoopbackHttp: true })
        .load()
        .then((loaded) => loaded.document);
      documents.set(file, document);
    }
    return document;
  };
  return async ({ dispatcher, connectorsPath, connectorStatus }) => {
    if (!connectorsPath) return createEngine({ dispatcher, allowLoopbackHttp: true, egressAllow });
    const document = await load(connectorsPath);
    const baseDir = path.dirname(connectorsPath);
    const registry = new ConnectorRegistry(document, {
      allowLoopbackHttp: true,
      store: new MemoryConnectorStore(document, baseDir),
    });
    const connectors = registryResolver(registry, {
      tokenCache: new TokenCache(),
      env,
      baseDir,
      statusOverrides: connectorStatus,
      secretFallback: replaySecret,
      allowLoopbackHttp: true,
    });
    return createEngine({ dispatcher, connectors, allowLoopbackHttp: true, egressAllow });
  };
}
