/**
 * The gateway end to end on 127.0.0.1: s3rver in a temp dir, the gateway
 * mounted at /storage in a Hono app served by @hono/node-server, URLs signed
 * by createS3Storage's public signer for that server.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { Client } from 'minio';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from './embedded-s3.js';
import { createStorageGateway } from './gateway.js';
import { createS3Storage, MAX_BYTES_PARAM, minioClientOptions } from './s3-storage.js';
import type { Storage } from './storage.js';

const ORIGIN = 'http://127.0.0.1:5173';
const MAX_BODY = 1024 * 1024;
let dir: string;
let s3: EmbeddedS3;
let server: ServerType;
let publicUrl: URL;
let storage: Storage;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tabgrid-gateway-'));
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  s3 = await startEmbeddedS3({ dataDir: dir, logger });
  const app = new Hono();
  app.route('/storage', createStorageGateway({ ...s3, upstream: s3.endpoint, logger, maxBodyBytes: MAX_BODY }));
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  publicUrl = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  storage = createS3Storage({ ...s3, publicEndpoint: () => publicUrl });
  await storage.ensureBucket();
});

afterAll(async () => {
  if (server) {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as http.Server).closeAllConnections();
    });
  }
  await s3?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const bytes = (n: number, seed = 7): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));
const put = (url: string, body: Buffer, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'PUT', body, headers: { 'Content-Type': 'application/octet-stream', ...headers } });
const errorCode = async (res: Response): Promise<string> => ((await res.json()) as { error: { code: string } }).error.code;
/** A signer outside createS3Storage, for dates and parameters it does not offer. */
const rawSigner = () => new Client(minioClientOptions(publicUrl, s3));

describe('storage gateway', () => {
  it('serves a presigned PUT then GET, bytes intact, and the object lands in s3rver', async () => {
    const body = bytes(4096);
    const res = await put(await storage.presignPut('t/roundtrip.bin', 60), body);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    const got = await fetch(await storage.presignGet('t/roundtrip.bin', 60));
    expect(got.status).toBe(200);
    expect(got.headers.get('content-length')).toBe('4096');
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
    expect((await storage.getBuffer('t/roundtrip.bin')).equals(body)).toBe(true);
  });

  it('never serves an uploaded object as an active page on the coordinator origin', async () => {
    const html = Buffer.from('<script>alert(1)</script>');
    expect((await put(await storage.presignPut('t/evil.html', 60), html, { 'Content-Type': 'text/html' })).status).toBe(200);
    const got = await fetch(await storage.presignGet('t/evil.html', 60));
    expect(got.headers.get('content-security-policy')).toContain('sandbox');
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('serves Range GETs', async () => {
    const body = bytes(1000, 3);
    await storage.putBuffer('t/range.bin', body, 'application/octet-stream');
    const res = await fetch(await storage.presignGet('t/range.bin', 60), { headers: { Range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await res.arrayBuffer()).equals(body.subarray(100, 200))).toBe(true);
  });

  it('serves HEAD signed for HEAD, and passes signed response-* parameters back to minio', async () => {
    await storage.putBuffer('t/head.txt', Buffer.from('hello'), 'text/plain');
    const head = await fetch(await rawSigner().presignedUrl('HEAD', s3.bucket, 't/head.txt', 60), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('5');
    const url = await rawSigner().presignedGetObject(s3.bucket, 't/head.txt', 60, {
      'response-content-type': 'text/x-tabgrid; charset=utf-8',
    });
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('text/x-tabgrid; charset=utf-8');
  });

  it('refuses unsigned requests and writes nothing', async () => {
    const get = await fetch(new URL('/storage/t/roundtrip.bin', publicUrl));
    expect(get.status).toBe(403);
    expect(await errorCode(get)).toBe('presign_missing');
    const res = await put(new URL('/storage/t/unsigned.bin', publicUrl).href, bytes(10));
    expect(res.status).toBe(403);
    expect(await storage.stat('t/unsigned.bin')).toBeNull();
  });

  it('refuses a tampered signature', async () => {
    await storage.putBuffer('t/tamper.bin', bytes(10), 'application/octet-stream');
    const url = new URL(await storage.presignGet('t/tamper.bin', 60));
    const sig = url.searchParams.get('X-Amz-Signature')!;
    url.searchParams.set('X-Amz-Signature', (sig[0] === '0' ? '1' : '0') + sig.slice(1));
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('presign_signature_mismatch');
  });

  it('refuses a URL for key A used for key B', async () => {
    await storage.putBuffer('t/b.bin', bytes(10), 'application/octet-stream');
    const url = new URL(await storage.presignGet('t/a.bin', 60));
    url.pathname = '/storage/t/b.bin';
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('presign_signature_mismatch');
    const putUrl = new URL(await storage.presignPut('t/a.bin', 60));
    putUrl.pathname = '/storage/t/b.bin';
    expect((await put(putUrl.href, bytes(3))).status).toBe(403);
    expect((await storage.stat('t/b.bin'))?.size).toBe(10);
  });

  it('refuses an expired URL', async () => {
    await storage.putBuffer('t/old.bin', bytes(10), 'application/octet-stream');
    const url = await rawSigner().presignedUrl('GET', s3.bucket, 't/old.bin', 60, {}, new Date(Date.now() - 61_000));
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('presign_expired');
  });

  it('refuses a hand-edited X-Amz-Expires', async () => {
    const url = await rawSigner().presignedUrl('GET', s3.bucket, 't/old.bin', 60, {}, new Date(Date.now() - 61_000));
    const res = await fetch(url.replace('X-Amz-Expires=60&', 'X-Amz-Expires=3600&'));
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('presign_signature_mismatch');
  });

  it('refuses a PUT URL used for GET and a GET URL used for PUT', async () => {
    await storage.putBuffer('t/method.bin', bytes(10), 'application/octet-stream');
    const get = await fetch(await storage.presignPut('t/method.bin', 60));
    expect(get.status).toBe(403);
    expect(await errorCode(get)).toBe('presign_wrong_method');
    const res = await put(await storage.presignGet('t/method.bin', 60), bytes(3));
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('presign_wrong_method');
    expect((await storage.stat('t/method.bin'))?.size).toBe(10);
  });

  it('refuses a request whose Host differs from the signed one', async () => {
    const url = new URL(await storage.presignGet('t/roundtrip.bin', 60));
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.get(url, { headers: { Host: `localhost:${url.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    expect(status).toBe(403);
  });

  it('drops the partial object when a PUT is cut short', async () => {
    const url = new URL(await storage.presignPut('t/cut.bin', 60));
    const req = http.request(url, { method: 'PUT', headers: { 'Content-Length': 4_000_000 } });
    req.on('error', () => {});
    req.write(bytes(1_000_000));
    await new Promise((r) => setTimeout(r, 150));
    req.destroy();
    // Bounded poll: the store notices the abort asynchronously.
    const deadline = Date.now() + 3000;
    let info = await storage.stat('t/cut.bin');
    while (info !== null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      info = await storage.stat('t/cut.bin');
    }
    expect(info).toBeNull();
  });

  it('never lets a dot-segment key reach s3rver', async () => {
    // minio signs `t/../escape.bin` as is; sent with the dots percent-encoded
    // so no URL parser on the way resolves them first.
    const url = await rawSigner().presignedUrl('PUT', s3.bucket, 't/../escape.bin', 60);
    const rawPath = `/storage/t/%2E%2E/escape.bin${url.slice(url.indexOf('?'))}`;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: publicUrl.port, method: 'PUT', path: rawPath, headers: { 'Content-Length': 3 } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('abc');
    });
    expect(status).toBe(403);
    expect(await storage.stat('escape.bin')).toBeNull();
  });

  it.each(['dir/with space.txt', 'ünïcødé/日本語 ✓.bin', 'a+b/c+d.txt', '100%/x%20y.txt', 'q/what?#frag.txt', "deep/x/y/z/(1)!*'.bin"])(
    'round-trips key %j',
    async (key) => {
      const body = Buffer.from(`body of ${key}`);
      expect((await put(await storage.presignPut(key, 60), body)).status).toBe(200);
      const got = await fetch(await storage.presignGet(key, 60));
      expect(got.status).toBe(200);
      expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
      expect((await storage.getBuffer(key)).equals(body)).toBe(true);
      expect(await storage.list(key)).toEqual([key]);
    },
  );

  it('answers CORS preflights from another origin and marks actual responses', async () => {
    const url = await storage.presignPut('t/cors.bin', 60);
    const pre = await fetch(url, {
      method: 'OPTIONS',
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(pre.headers.get('access-control-allow-methods')).toContain('PUT');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
    const res = await put(url, bytes(20), { Origin: ORIGIN });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(res.headers.get('access-control-expose-headers')).toContain('ETag');
    const got = await fetch(await storage.presignGet('t/cors.bin', 60), { headers: { Origin: ORIGIN } });
    expect(got.status).toBe(200);
    expect(got.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const refused = await fetch(new URL('/storage/t/cors.bin', publicUrl), { headers: { Origin: ORIGIN } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it('refuses bodies over maxBodyBytes with 413', async () => {
    const res = await put(await storage.presignPut('t/big.bin', 60), bytes(MAX_BODY + 1));
    expect(res.status).toBe(413);
    expect(await storage.stat('t/big.bin')).toBeNull();
  });

  it('enforces the size limit signed into a segment URL, and refuses a URL whose limit was changed', async () => {
    const limited = createS3Storage({ ...s3, publicEndpoint: () => publicUrl, signsPutLimits: true });
    const url = await limited.presignPut('t/limited.bin', 60, { maxBytes: 1000 });
    expect(new URL(url).searchParams.get(MAX_BYTES_PARAM)).toBe('1000');
    const over = await put(url, bytes(1001));
    expect(over.status).toBe(413);
    expect(await errorCode(over)).toBe('too_large');
    expect(await storage.stat('t/limited.bin')).toBeNull();
    expect((await put(url, bytes(1000))).status).toBe(200);
    // Raising the limit by hand breaks the signature.
    const raised = new URL(url);
    raised.searchParams.set(MAX_BYTES_PARAM, '100000000');
    const forged = await put(raised.toString(), bytes(2000));
    expect(forged.status).toBe(403);
    expect(await errorCode(forged)).toBe('presign_signature_mismatch');
  });

  it('keeps random credentials per data folder and refuses URLs signed with s3rver’s public default secret', async () => {
    expect(s3.accessKey).not.toBe('S3RVER');
    expect(s3.secretKey).not.toBe('S3RVER');
    expect(s3.secretKey.length).toBeGreaterThanOrEqual(32);
    const saved = JSON.parse(await readFile(path.join(dir, 'storage-credentials.json'), 'utf8')) as { secretKey: string };
    expect(saved.secretKey).toBe(s3.secretKey);
    expect((await stat(path.join(dir, 'storage-credentials.json'))).mode & 0o077).toBe(0);
    const defaults = new Client(minioClientOptions(publicUrl, { accessKey: 'S3RVER', secretKey: 'S3RVER', region: s3.region }));
    const forgedGet = await fetch(await defaults.presignedGetObject(s3.bucket, 't/roundtrip.bin', 60));
    expect(forgedGet.status).toBe(403);
    const forgedPut = await put(await defaults.presignedPutObject(s3.bucket, 't/roundtrip.bin', 60), bytes(10));
    expect(forgedPut.status).toBe(403);
    // And straight at s3rver, the default key is unknown to it too.
    const direct = new Client(minioClientOptions(s3.endpoint, { accessKey: 'S3RVER', secretKey: 'S3RVER', region: s3.region }));
    await expect(direct.statObject(s3.bucket, 't/roundtrip.bin')).rejects.toThrow();
  });

  it('answers other methods with 405', async () => {
    const res = await fetch(await storage.presignGet('t/roundtrip.bin', 60), { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(await storage.stat('t/roundtrip.bin')).not.toBeNull();
  });

  it('logs refusals at info with a reason and no signature', () => {
    const refusals = logLines.filter((l) => l.msg === 'storage request refused');
    expect(refusals.length).toBeGreaterThanOrEqual(8);
    for (const l of refusals) {
      expect(l.level).toBe(30);
      expect(typeof l.reason).toBe('string');
      expect(typeof l.code).toBe('string');
    }
    // Parameter names may appear in reasons; signatures and credentials may not.
    expect(JSON.stringify(refusals)).not.toMatch(/[0-9a-f]{64}|S3RVER%2F|S3RVER\/\d{8}/);
    expect(JSON.stringify(refusals)).not.toContain(s3.accessKey);
  });
});
