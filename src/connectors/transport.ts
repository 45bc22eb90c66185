import { createPrivateKey, X509Certificate } from "node:crypto";
import type { ConnectorTransportSettings } from "../http/dispatchers.js";
import type { SecretReader } from "./connector-auth.js";
import { ConnectorError } from "./errors.js";
import type { Connector } from "./schema.js";
import { resolveSecret, type SecretContext } from "./secrets.js";

/** A certificate this close to its end is warned about: time to renew it before calls start failing. */
const CERTIFICATE_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

/** The first certificate of a PEM chain, read; the message names the connector, never the PEM. */
function leafCertificate(pem: string, owner: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new ConnectorError("invalid-secret", `${owner}: tls.cert is not a readable PEM certificate`);
  }
}

/**
 * Checks a client certificate before anything is sent: the key reads (with its passphrase when encrypted) and
 * belongs to the certificate. A TLS handshake would fail on either with an OpenSSL message that says neither.
 */
export function checkClientCertificate(
  tls: { cert: string; key: string; passphrase?: string },
  owner: string,
): X509Certificate {
  const certificate = leafCertificate(tls.cert, owner);
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey({ key: tls.key, format: "pem", passphrase: tls.passphrase });
  } catch {
    throw new ConnectorError(
      "invalid-secret",
      tls.passphrase === undefined && /ENCRYPTED/.test(tls.key)
        ? `${owner}: tls.key is encrypted; give its tls.passphrase`
        : `${owner}: tls.key is not a readable PEM private key${tls.passphrase === undefined ? "" : ", or tls.passphrase is wrong"}`,
    );
  }
  if (!certificate.checkPrivateKey(key))
    throw new ConnectorError("invalid-secret", `${owner}: tls.key is not the key of tls.cert`);
  return certificate;
}

/** A warning when the certificate has expired or expires within CERTIFICATE_WARNING_DAYS; undefined otherwise. */
export function certificateExpiryWarning(
  certificate: X509Certificate,
  owner: string,
  now = Date.now(),
): string | undefined {
  const notAfter = new Date(certificate.validTo);
  const left = notAfter.getTime() - now;
  const date = notAfter.toISOString().slice(0, 10);
  if (left <= 0) return `${owner}: the client certificate (tls.cert) expired on ${date}`;
  if (left <= CERTIFICATE_WARNING_DAYS * DAY_MS)
    return `${owner}: the client certificate (tls.cert) expires on ${date}, in ${Math.ceil(left / DAY_MS)} days`;
  return undefined;
}

/**
 * A connector's own proxy and TLS settings with their secrets read, or undefined when it has neither (it then
 * shares the engine's connections). `warn` hears about a certificate near its end.
 */
export function connectorTransport(
  connector: Connector,
  secret: SecretReader,
  warn: (message: string) => void,
): ConnectorTransportSettings | undefined {
  if (!connector.proxy && !connector.tls) return undefined;
  const owner = `connector "${connector.name}"`;
  let proxy: ConnectorTransportSettings["proxy"];
  if (connector.proxy) {
    // The URL was checked when the connector was loaded (the schema); createTransport checks it once more.
    const { url, username } = connector.proxy;
    proxy = username === undefined ? { url } : { url, username, password: secret("proxy.password") };
  }
  let tls: ConnectorTransportSettings["tls"];
  if (connector.tls) {
    const optional = (field: "cert" | "key" | "passphrase" | "ca") =>
      connector.tls?.[field] === undefined ? undefined : secret(`tls.${field}`);
    tls = {
      cert: optional("cert"),
      key: optional("key"),
      passphrase: optional("passphrase"),
      ca: optional("ca"),
    };
    if (tls.cert !== undefined && tls.key !== undefined) {
      const certificate = checkClientCertificate(
        { cert: tls.cert, key: tls.key, passphrase: tls.passphrase },
        owner,
      );
      const warning = certificateExpiryWarning(certificate, owner);
      if (warning) warn(warning);
    }
  }
  return { proxy, tls };
}

/**
 * The expiry warning of a connector's client certificate, read through its secret reference; for listings, where
 * an unreadable certificate is left to the connector's first request to report.
 */
export function connectorCertificateWarning(
  connector: Connector,
  context: SecretContext,
): string | undefined {
  const cert = connector.tls?.cert;
  if (cert === undefined) return undefined;
  let certificate: X509Certificate;
  try {
    certificate = leafCertificate(resolveSecret(connector, "tls.cert", cert, context), "");
  } catch {
    return undefined;
  }
  return certificateExpiryWarning(certificate, `connector "${connector.name}"`);
}
