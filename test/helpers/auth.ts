import { generateKeyPairSync } from "node:crypto";
import type { Dispatcher } from "undici";
import type { AuthSettings } from "../../src/connectors/auth/strategies.js";
import type { ConnectorProfile } from "../../src/connectors/connector-handle.js";
import { Budget, type RetryClock } from "../../src/core/budget.js";
import type { AuthorizeRequest } from "../../src/core/connector-seam.js";

/** A token call through `dispatcher` with a budget of its own (`ms`, ended early by `signal`, waits on `clock`). */
export function callWithin(
  dispatcher: Dispatcher,
  ms = 10_000,
  signal?: AbortSignal,
  clock?: RetryClock,
): AuthorizeRequest {
  return { dispatcher, budget: Budget.of(ms, { signal, clock }) };
}

/** A connector profile around `auth` with the usual defaults. */
export function profileFor(auth: AuthSettings, overrides: Partial<ConnectorProfile> = {}): ConnectorProfile {
  return {
    id: "c-1",
    name: "CRM",
    type: "custom",
    status: "active",
    baseUrl: "https://crm.example.com",
    allowedMethods: undefined,
    auth,
    tokenExpiredStatuses: [401],
    tokenExpiredWhen: undefined,
    defaultLifetimeSeconds: 900,
    baseUrlFromToken: false,
    ...overrides,
  };
}

export interface RsaPem {
  /** PKCS#8 "BEGIN PRIVATE KEY" */
  readonly privateKey: string;
  /** PKCS#1 "BEGIN RSA PRIVATE KEY" of the same key */
  readonly privateKeyPkcs1: string;
  /** SPKI "BEGIN PUBLIC KEY" */
  readonly publicKey: string;
}

export function rsaKeyPair(): RsaPem {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    privateKeyPkcs1: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

/** An unsigned-looking JWT (header.payload.signature) whose payload is `claims`. */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${Buffer.from("sig").toString("base64url")}`;
}
