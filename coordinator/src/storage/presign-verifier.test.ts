/** The verifier alone: no server, a fixed clock, URLs from minio's own signer. */
import { Client } from 'minio';
import { describe, expect, it } from 'vitest';
import { createPresignVerifier, parseAmzDate, type PresignedRequest } from './presign-verifier.js';
import { minioClientOptions } from './s3-storage.js';

const creds = { accessKey: 'AKIDTEST', secretKey: 'not-a-real-secret', region: 'eu-west-3' };
const bucket = 'storage';
const signedAt = new Date('2026-11-25T00:40:00Z');
const now = signedAt.getTime() + 10_000;
const verify = createPresignVerifier({ bucket, ...creds, now: () => now });

async function presign(
  method: string,
  key: string,
  opts: { host?: string; expires?: number; params?: Record<string, string>; date?: Date } = {},
) {
  const base = new URL(`http://${opts.host ?? '127.0.0.1:8000'}`);
  const client = new Client(minioClientOptions(base, creds));
  return new URL(await client.presignedUrl(method, bucket, key, opts.expires ?? 60, opts.params ?? {}, opts.date ?? signedAt));
}

const asRequest = (url: URL, method: string, host = url.host): PresignedRequest => ({
  method,
  host,
  rawPath: url.pathname,
  rawQuery: url.search.slice(1),
});

describe('parseAmzDate', () => {
  it('parses the compact ISO form V8 cannot', () => {
    expect(Number.isNaN(new Date('20261125T004000Z').getTime())).toBe(true);
    expect(parseAmzDate('20261125T004000Z')?.toISOString()).toBe('2026-11-25T00:40:00.000Z');
  });
  it.each(['20261340T004000Z', '20261125T254000Z', '2026-11-25T00:40:00Z', '20261125T004000', ''])('refuses %j', (s) => {
    expect(parseAmzDate(s)).toBeNull();
  });
});

describe('createPresignVerifier', () => {
  it('accepts what minio signed, for awkward keys, and returns the decoded key', async () => {
    for (const key of ['a b/c+d%e.txt', 'ü/日本/✓', 'x/#?&=.bin', 'plain']) {
      const url = await presign('PUT', key);
      expect(await verify(asRequest(url, 'PUT'))).toEqual({ ok: true, key });
    }
  });

  it('accepts signed extra parameters and refuses changed ones', async () => {
    const url = await presign('GET', 'k', { params: { 'response-content-disposition': 'attachment; filename="a+b c.mp4"' } });
    expect((await verify(asRequest(url, 'GET'))).ok).toBe(true);
    url.searchParams.set('response-content-disposition', 'inline');
    expect(await verify(asRequest(url, 'GET'))).toMatchObject({ ok: false, code: 'presign_signature_mismatch' });
  });

  it('signs host:port and default ports the way browsers send them', async () => {
    const url = await presign('GET', 'k', { host: 'grid.example:443' });
    expect((await verify(asRequest(url, 'GET', 'grid.example:443'))).ok).toBe(true);
    const plain = await presign('GET', 'k', { host: 'grid.example' });
    expect((await verify(asRequest(plain, 'GET', 'grid.example'))).ok).toBe(true);
    expect(await verify(asRequest(plain, 'GET', 'grid.example:8080'))).toMatchObject({ code: 'presign_signature_mismatch' });
  });

  it('refuses a `+` that was form-encoded from a space (one percent-decoding only)', async () => {
    const url = await presign('GET', 'a b');
    const plus = { ...asRequest(url, 'GET'), rawPath: url.pathname.replace('%20', '+') };
    expect(await verify(plus)).toMatchObject({ ok: false, code: 'presign_signature_mismatch', key: 'a+b' });
  });

  it('tells expired, not-yet-valid and wrong-method apart', async () => {
    const old = await presign('GET', 'k', { date: new Date(now - 61_000), expires: 60 });
    expect(await verify(asRequest(old, 'GET'))).toMatchObject({ code: 'presign_expired' });
    const future = await presign('GET', 'k', { date: new Date(now + 16 * 60_000) });
    expect(await verify(asRequest(future, 'GET'))).toMatchObject({ code: 'presign_not_yet_valid' });
    const put = await presign('PUT', 'k');
    expect(await verify(asRequest(put, 'GET'))).toMatchObject({ code: 'presign_wrong_method', message: expect.stringContaining('PUT') });
    expect(await verify(asRequest(put, 'HEAD'))).toMatchObject({ code: 'presign_wrong_method' });
  });

  it('refuses missing, repeated and malformed parameters', async () => {
    const url = await presign('GET', 'k');
    for (const p of ['X-Amz-Signature', 'X-Amz-Date', 'X-Amz-Credential']) {
      const u = new URL(url);
      u.searchParams.delete(p);
      expect(await verify(asRequest(u, 'GET'))).toMatchObject({ code: 'presign_missing', message: expect.stringContaining(p) });
    }
    const dup = { ...asRequest(url, 'GET'), rawQuery: `${url.search.slice(1)}&X-Amz-Expires=60` };
    expect(await verify(dup)).toMatchObject({ code: 'presign_malformed' });
    for (const [p, v] of [
      ['X-Amz-Expires', '0'],
      ['X-Amz-Expires', '604801'],
      ['X-Amz-Expires', '1e3'],
      ['X-Amz-Date', '20261125T004000'],
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA1'],
      ['X-Amz-Signature', 'ZZ'],
    ]) {
      const u = new URL(url);
      u.searchParams.set(p!, v!);
      expect(await verify(asRequest(u, 'GET'))).toMatchObject({ code: 'presign_malformed' });
    }
    expect(await verify({ ...asRequest(url, 'GET'), rawPath: '/storage/%E0%A4%A' })).toMatchObject({ code: 'presign_malformed' });
    expect(await verify({ ...asRequest(url, 'GET'), rawPath: '/other/k' })).toMatchObject({ code: 'presign_malformed' });
    expect(await verify({ ...asRequest(url, 'GET'), host: 'evil.example/path' })).toMatchObject({ code: 'presign_malformed' });
    expect(await verify({ ...asRequest(url, 'GET'), host: undefined })).toMatchObject({ code: 'presign_malformed' });
  });

  it('refuses a URL signed with another secret', async () => {
    const other = createPresignVerifier({ bucket, ...creds, secretKey: 'another-secret', now: () => now });
    expect(await other(asRequest(await presign('GET', 'k'), 'GET'))).toMatchObject({ code: 'presign_signature_mismatch' });
  });
});
