import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { workerIdSchema } from '@tabgrid/shared';
import { workerCredentials } from './credentials.js';

const creds = workerCredentials(randomBytes(32));

describe('worker credentials', () => {
  it('issues fresh, well-formed identities whose credential verifies as that id', () => {
    const a = creds.issue();
    const b = creds.issue();
    expect(a.workerId).not.toBe(b.workerId);
    expect(workerIdSchema.safeParse(a.workerId).success).toBe(true);
    expect(a.credential.startsWith(`${a.workerId}.`)).toBe(true);
    expect(a.credential.length).toBeLessThanOrEqual(256);
    expect(creds.verify(a.credential)).toBe(a.workerId);
  });

  it('refuses forged, tampered, truncated and foreign credentials', () => {
    const { workerId, credential } = creds.issue();
    const victim = creds.issue();
    const mac = credential.slice(credential.lastIndexOf('.') + 1);
    const flipped = `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    const forged = [
      victim.workerId, // the id alone, as /api/workers shows it
      `${victim.workerId}.${mac}`, // someone else's id with my MAC
      `${workerId}.${flipped}`,
      `${workerId}.${mac.slice(0, -2)}`,
      `${workerId}.${mac}=`,
      `${workerId}.${mac}!`, // base64url decoding would skip the stray character
      `${workerId}.`,
      `.${mac}`,
      '../../etc.passwd',
      workerCredentials(randomBytes(32)).issue().credential, // another grid's
    ];
    for (const f of forged) expect(creds.verify(f), f).toBeNull();
  });

  it('refuses a secret too short to sign with', () => {
    expect(() => workerCredentials(randomBytes(16))).toThrow(/32 bytes/);
  });
});
