/**
 * Share links: capability URLs that let whoever holds one see one job.
 *
 * A capability is 71 base64url characters: a version byte, the job's 16-byte
 * id and its expiry (uint32 epoch seconds), followed by an HMAC-SHA256 of
 * those 21 bytes keyed with the `share-links` secret (secrets table, the same
 * for every coordinator on the database). Nothing is stored per link: the
 * MAC makes it unforgeable (and so unguessable: 256 bits), the expiry is
 * signed, and a deleted job's link finds no job. `open` says only whether a
 * capability is good, never why not, so every refusal can be the same 404.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/client.js';
import { loadSecret } from '../secrets/secret-table.js';

const VERSION = 1;
const PAYLOAD_BYTES = 1 + 16 + 4;
const MAC_BYTES = 32;
const CAPABILITY_RE = /^[A-Za-z0-9_-]{71}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Longest a link may be made to last, and what it lasts unless asked otherwise. */
export const SHARE_MAX_DAYS = 90;
export const SHARE_DEFAULT_DAYS = 7;

export interface SharedCapability {
  readonly jobId: string;
  readonly expiresAt: Date;
}

export interface ShareLinks {
  /** The capability for `jobId` until `expiresAt` (whole seconds). */
  issue(jobId: string, expiresAt: Date): Promise<string>;
  /** The job a capability opens, or undefined when it is malformed, altered, foreign or expired. */
  open(capability: string): Promise<SharedCapability | undefined>;
}

export function createShareLinks(opts: { readonly db: Queryable; readonly now?: () => number }): ShareLinks {
  const now = opts.now ?? Date.now;
  let key: Promise<Buffer> | undefined;
  const mac = async (payload: Buffer): Promise<Buffer> => {
    key ??= loadSecret(opts.db, 'share-links').catch((err: unknown) => {
      key = undefined;
      throw err;
    });
    return createHmac('sha256', await key)
      .update('tabgrid share link\0')
      .update(payload)
      .digest();
  };

  return {
    async issue(jobId, expiresAt) {
      if (!UUID_RE.test(jobId)) throw new Error(`not a job id: ${jobId}`);
      const payload = Buffer.alloc(PAYLOAD_BYTES);
      payload.writeUInt8(VERSION, 0);
      Buffer.from(jobId.replaceAll('-', ''), 'hex').copy(payload, 1);
      payload.writeUInt32BE(Math.floor(expiresAt.getTime() / 1000), 17);
      return Buffer.concat([payload, await mac(payload)]).toString('base64url');
    },
    async open(capability) {
      if (!CAPABILITY_RE.test(capability)) return undefined;
      const bytes = Buffer.from(capability, 'base64url');
      // Only the canonical spelling: the last character's two spare bits are not part of the MAC.
      if (bytes.length !== PAYLOAD_BYTES + MAC_BYTES || bytes.toString('base64url') !== capability) return undefined;
      const payload = bytes.subarray(0, PAYLOAD_BYTES);
      const expected = await mac(payload);
      if (!timingSafeEqual(bytes.subarray(PAYLOAD_BYTES), expected)) return undefined;
      if (payload.readUInt8(0) !== VERSION) return undefined;
      const expiresAt = new Date(payload.readUInt32BE(17) * 1000);
      if (expiresAt.getTime() <= now()) return undefined;
      const hex = payload.subarray(1, 17).toString('hex');
      const jobId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
      return { jobId, expiresAt };
    },
  };
}
