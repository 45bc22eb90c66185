import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Throwaway certificates for the TLS tests, made with the openssl CLI in a temporary folder: a CA, certificates it
 * issues (server or client), self-signed certificates, EC keys.
 */

export interface TestCertificates {
  /** PEM of the test CA, for the engine's `ca` option. */
  ca: string;
  key: string;
  cert: string;
}

/** A certificate and its key, as PEM, and where they are on disk (in the authority's folder). */
export interface IssuedCertificate {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** The key encrypted with the passphrase given to `issue` (aes-256-cbc), when one was given. */
  encryptedKey?: string;
  encryptedKeyFile?: string;
}

export interface CertificateAuthority {
  /** The folder holding the CA and every certificate it issued (`<name>.pem`, `<name>.key`, `<name>.enc.key`). */
  readonly dir: string;
  /** PEM of the CA certificate. */
  readonly cert: string;
  readonly certFile: string;
  /**
   * A certificate for `/CN=<name>` signed by this CA, valid `days` (default 2). `extensions`: an openssl extension
   * file's text (subjectAltName, extendedKeyUsage…); `passphrase`: also writes the key encrypted with it.
   */
  issue(
    name: string,
    options?: { days?: number; extensions?: string; passphrase?: string },
  ): IssuedCertificate;
  /** A self-signed certificate for `/CN=<name>` (not issued by this CA), valid `days` (default 2), in its folder. */
  selfSigned(name: string, days?: number): IssuedCertificate;
  /** Removes the folder. */
  remove(): void;
}

function opensslIn(dir: string) {
  return (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

/** `<name>.pem` and `<name>.key` in `dir`, for `/CN=<commonName>` (default: the name). */
function selfSignedIn(
  dir: string,
  name: string,
  days: number,
  extraArgs: readonly string[] = [],
  commonName = name,
): IssuedCertificate {
  opensslIn(dir)(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    String(days),
    "-subj",
    `/CN=${commonName}`,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    ...extraArgs,
  );
  return read(dir, name);
}

function read(dir: string, name: string): IssuedCertificate {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, keyFile };
}

/** A new CA named `commonName` in a temporary folder (the CA's files are `ca.pem` and `ca.key`). */
export function certificateAuthority(commonName: string): CertificateAuthority {
  const dir = mkdtempSync(path.join(tmpdir(), "flowrun-tls-"));
  const openssl = opensslIn(dir);
  const ca = selfSignedIn(
    dir,
    "ca",
    2,
    ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    commonName,
  );
  return {
    dir,
    cert: ca.cert,
    certFile: ca.certFile,
    issue(name, options = {}) {
      openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
      );
      const extensions: string[] = [];
      if (options.extensions !== undefined) {
        writeFileSync(path.join(dir, `${name}.ext`), options.extensions);
        extensions.push("-extfile", `${name}.ext`);
      }
      openssl(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        String(options.days ?? 2),
        ...extensions,
        "-out",
        `${name}.pem`,
      );
      const issued = read(dir, name);
      if (options.passphrase === undefined) return issued;
      const encryptedKeyFile = path.join(dir, `${name}.enc.key`);
      openssl(
        "pkey",
        "-in",
        `${name}.key`,
        "-aes-256-cbc",
        "-passout",
        `pass:${options.passphrase}`,
        "-out",
        encryptedKeyFile,
      );
      return { ...issued, encryptedKeyFile, encryptedKey: readFileSync(encryptedKeyFile, "utf8") };
    },
    selfSigned: (name, days = 2) => selfSignedIn(dir, name, days),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A self-signed certificate for `/CN=<commonName>` and its key, valid `days` (its folder is removed). */
export function selfSignedCertificate(commonName: string, days = 2): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "flowrun-tls-"));
  try {
    const { cert, key } = selfSignedIn(dir, commonName, days);
    return { cert, key };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A new P-256 (prime256v1) private key as PKCS#8 PEM, for ES256. */
export function ecPrivateKeyPem(): string {
  return generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
}

/**
 * A throwaway CA and a server certificate for 127.0.0.1, localhost and *.flowrun.test (names tests resolve with
 * an injected lookup).
 */
export function makeTestCertificates(): TestCertificates {
  const authority = certificateAuthority("flowrun test CA");
  try {
    const server = authority.issue("127.0.0.1", {
      extensions:
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.flowrun.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    });
    return { ca: authority.cert, key: server.key, cert: server.cert };
  } finally {
    authority.remove();
  }
}
