// A throwaway self-signed certificate for 127.0.0.1 and localhost, made with openssl.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificate {
  readonly certPath: string;
  readonly keyPath: string;
  /** The certificate itself, for clients to trust. */
  readonly cert: Buffer;
  remove(): void;
}

export function selfSignedCertificate(): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  return { certPath, keyPath, cert: readFileSync(certPath), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
