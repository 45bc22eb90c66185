import { generateKeyPairSync } from "node:crypto";
import { ConnectorFileStore, type LoadedConnectors, MemoryConnectorStore } from "../connectors/file-store.js";
import { ConnectorRegistry } from "../connectors/registry.js";
import type { Connector } from "../connectors/schema.js";
import { connectorType } from "../connectors/types/index.js";
import { assembleEngine, type EngineOptions } from "../runtime/create-engine.js";
import type { EngineFactory } from "./runner.js";

const replayKeys = new Map<"rsa" | "ec", string>();
/** A throwaway key: replayed token requests carry `[REDACTED]` assertions, so any key of the right kind signs them. */
function throwawayPrivateKey(kind: "rsa" | "ec" = "rsa"): string {
  let key = replayKeys.get(kind);
  if (key === undefined) {
    const pair =
      kind === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : generateKeyPairSync("ec", { namedCurve: "P-256" });
    key = pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    replayKeys.set(kind, key);
  }
  return key;
}

/**
 * Replay has no real secrets (CI does not hold them) and needs none: recorded requests carry `[REDACTED]` where a
 * secret went. An unresolvable secret becomes a placeholder of the right shape.
 */
export function replaySecret(connector: Connector, field: string): string {
  return (
    connectorType(connector).replayPlaceholder?.(connector, field, throwawayPrivateKey) ??
    `replay-placeholder-${field}`
  );
}

/**
 * Engines for replayed cases, built by the same composition root as live runs from the same options (`base`: step
 * limit, CA, warnings, secrets' environment...), with the case's MockAgent as dispatcher, the test file's
 * connectors in memory (a rotated refresh token never rewrites a fixture), the case's `connectorStatus`, and a
 * fresh token cache per case so that each case replays its own token exchanges. Replay always accepts plain
 * http:// to loopback hosts: nothing leaves the process, and recordings are often made against local servers.
 */
export function replayEngineFactory(base: EngineOptions = {}): EngineFactory {
  // Each connectors file is read and checked once; every case gets its own copy of what was loaded.
  const documents = new Map<string, Promise<LoadedConnectors>>();
  const load = (file: string) => {
    let document = documents.get(file);
    if (!document) {
      document = new ConnectorFileStore(file, { allowLoopbackHttp: true }).load().then((loaded) => {
        for (const warning of loaded.warnings) base.onWarning?.(`${warning.path}: ${warning.message}`);
        return loaded;
      });
      documents.set(file, document);
    }
    return document;
  };
  return async ({ dispatcher, connectorsPath, connectorStatus }) => {
    // Run-time warnings are about the live setup (a rotated refresh token that cannot be stored back into an env
    // variable): in replay they would print on every run and ask for nothing a user can fix. The connectors
    // file's own warnings (above) still show.
    const options: EngineOptions = {
      ...base,
      dispatcher,
      allowLoopbackHttp: true,
      connectors: undefined,
      onWarning: undefined,
    };
    if (!connectorsPath) return assembleEngine(options);
    const store = MemoryConnectorStore.fromLoaded(await load(connectorsPath));
    const connectors = await ConnectorRegistry.open(store, { allowLoopbackHttp: true });
    return assembleEngine(
      { ...options, connectors },
      { statusOverrides: connectorStatus, secretFallback: replaySecret },
    );
  };
}
