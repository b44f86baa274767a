/**
 * Worker identities are issued by the coordinator, never chosen by a tab.
 *
 * A new tab gets a random worker id and a credential: the id and an
 * HMAC-SHA256 of it under the `worker-credentials` secret, which every
 * coordinator on the database shares (secrets/secret-table.ts), so a tab may
 * reconnect to any of them. Knowing a worker's id (`/api/workers` shows it)
 * gives nothing: the MAC cannot be made without the secret, and nothing
 * stores the credential, so no API or log can show it. A credential that does
 * not verify (forged, truncated, from another grid) proves nothing, and its
 * bearer gets a fresh identity.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { workerIdSchema } from '@tabgrid/shared';

/** Domain separation: a MAC made for anything else under this secret is never a worker credential. */
const CONTEXT = 'tabgrid worker credential v1\u0000';

export interface WorkerIdentity {
  readonly workerId: string;
  readonly credential: string;
}

export interface WorkerCredentials {
  /** A fresh identity: 96 random bits of id (17 characters), and its credential. */
  issue(): WorkerIdentity;
  /** The worker id the credential proves, or null. Constant time in the MAC. */
  verify(credential: string): string | null;
}

export function workerCredentials(secret: Buffer): WorkerCredentials {
  if (secret.length < 32) throw new Error('the worker-credentials secret must be at least 32 bytes');
  const macOf = (workerId: string) => createHmac('sha256', secret).update(CONTEXT).update(workerId).digest();
  const credentialOf = (workerId: string) => `${workerId}.${macOf(workerId).toString('base64url')}`;
  return {
    issue() {
      const workerId = `w${randomBytes(12).toString('base64url')}`;
      return { workerId, credential: credentialOf(workerId) };
    },
    verify(credential) {
      const dot = credential.lastIndexOf('.');
      if (dot < 0) return null;
      const workerId = credential.slice(0, dot);
      if (!workerIdSchema.safeParse(workerId).success) return null;
      // Compared as text, so that no other spelling of the same bytes passes (base64url decoding skips stray characters).
      const given = Buffer.from(credential.slice(dot + 1));
      const expected = Buffer.from(macOf(workerId).toString('base64url'));
      // Lengths are public (a SHA-256 MAC is 43 characters); only equal-length buffers can be compared in constant time.
      return given.length === expected.length && timingSafeEqual(given, expected) ? workerId : null;
    },
  };
}
