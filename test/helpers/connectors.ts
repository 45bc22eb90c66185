import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  ConnectorFileStore,
  type ConnectorInput,
  ConnectorRegistry,
  type ConnectorRegistryOptions,
  type ConnectorsFile,
} from "../../src/index.js";

/** The connectors the auth and fleet tests share, and connectors files on disk. */

export type FileConnector = ConnectorsFile["connectors"][number];

/** The custom OAuth client-credentials connector "CRM" (id crm-1) the fleet tests use, on loopback servers. */
export function crmConnector(
  apiUrl: string,
  tokenUrl: string,
  clientSecret = "s3cret",
  clientId = "flows",
): FileConnector {
  return {
    id: "crm-1",
    name: "CRM",
    type: "custom",
    status: "active",
    resourceDomainUrl: apiUrl,
    auth: {
      type: "oauth2",
      grantType: "client_credentials",
      clientAuth: "basic",
      clientId,
      clientSecret,
      tokenUrl,
    },
  } as FileConnector;
}

/**
 * The Webex Contact Center connector "Webex CC" (id c-wxcc) with a refresh token (`rt-1` unless `fields` says
 * otherwise), its token endpoint at `tokenUrl`, its API at `apiUrl`. `fields` replace or add fields.
 */
export function webexConnector(
  tokenUrl: string,
  apiUrl: string,
  fields: Record<string, unknown> = {},
): ConnectorInput {
  return {
    id: "c-wxcc",
    name: "Webex CC",
    type: "webex-contact-center",
    access: "read-write",
    clientId: "C0ffee1234",
    clientSecret: "cl1ent-S3cret",
    refreshToken: "rt-1",
    tokenUrl,
    resourceDomainUrl: apiUrl,
    ...fields,
  } as ConnectorInput;
}

/** A connectors file in a new temporary folder: its path, its folder, and `remove()`. */
export interface ConnectorsFileOnDisk {
  readonly file: string;
  readonly dir: string;
  /** Opens a registry on the file (loopback http allowed), as one more process would. */
  open(options?: ConnectorRegistryOptions): Promise<ConnectorRegistry>;
  remove(): void;
}

/** Writes `document` to `connectors.json` (mode 0600) in a new temporary folder (or in `dir`). */
export function writeConnectorsFile(document: ConnectorsFile, dir?: string): ConnectorsFileOnDisk {
  const folder = dir ?? mkdtempSync(path.join(tmpdir(), "flowrun-connectors-"));
  const file = path.join(folder, "connectors.json");
  writeFileSync(file, JSON.stringify(document, null, 2), { mode: 0o600 });
  return {
    file,
    dir: folder,
    open: (options = {}) =>
      ConnectorRegistry.open(new ConnectorFileStore(file, { allowLoopbackHttp: true }), {
        allowLoopbackHttp: true,
        ...options,
      }),
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
}
