/**
 * createS3Storage against the embedded s3rver (and its shim) on 127.0.0.1,
 * data in a temp dir: the operations the coordinator relies on, multipart
 * included.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from '../errors.js';
import { startEmbeddedS3, type EmbeddedS3 } from './embedded-s3.js';
import { createS3Storage } from './s3-storage.js';
import type { Storage } from './storage.js';

let dir: string;
let s3: EmbeddedS3;
let storage: Storage;
/** The shim's debug log: one line per request s3rver answered. */
const requests: { method: string; path: string; params: string[]; status: number }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tabgrid-s3-'));
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        const entry = line ? (JSON.parse(line) as { msg?: string }) : {};
        if (entry.msg === 's3rver request') requests.push(entry as (typeof requests)[number]);
      }
      cb();
    },
  });
  s3 = await startEmbeddedS3({ dataDir: dir, logger: pino({ level: 'debug' }, sink) });
  storage = createS3Storage({ ...s3, publicEndpoint: () => new URL('http://127.0.0.1:9') });
  await storage.ensureBucket();
});

afterAll(async () => {
  await s3?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `size` bytes of a cheap deterministic pattern, 1 MiB at a time, hashed as they go. */
function generated(size: number): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      const n = Math.min(1 << 20, size - sent);
      if (n <= 0) return void this.push(null);
      const chunk = Buffer.alloc(n, (sent >> 20) & 255);
      chunk.writeUInt32BE(sent >>> 0, 0);
      sent += n;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

describe('createS3Storage on embedded s3rver', () => {
  it('listens on 127.0.0.1 with data under dataDir/s3, bucket "storage"', async () => {
    expect(s3.endpoint.hostname).toBe('127.0.0.1');
    expect(s3.bucket).toBe('storage');
    await storage.ensureBucket(); // idempotent
    await storage.ping();
    await storage.putBuffer('probe.txt', Buffer.from('x'), 'text/plain');
    const files = await readFile(path.join(dir, 's3', 'storage', 'probe.txt._S3rver_object'));
    expect(files.toString()).toBe('x');
  });

  it('puts, stats, gets, lists and removes', async () => {
    await storage.putBuffer('v/j1/a.txt', Buffer.from('alpha'), 'text/plain');
    await storage.putStream('v/j1/b.txt', Readable.from([Buffer.from('be'), Buffer.from('ta')]), 4, 'text/plain');
    const src = path.join(dir, 'src.bin');
    await writeFile(src, Buffer.alloc(3000, 9));
    expect(await storage.putFile('v/j1/c/d.bin', src, 'application/octet-stream')).toEqual({ size: 3000 });
    expect(await storage.stat('v/j1/a.txt')).toEqual({ size: 5 });
    expect(await storage.stat('v/j1/missing')).toBeNull();
    expect((await storage.getBuffer('v/j1/b.txt')).toString()).toBe('beta');
    const dst = path.join(dir, 'dst.bin');
    await storage.getToFile('v/j1/c/d.bin', dst);
    expect((await readFile(dst)).equals(Buffer.alloc(3000, 9))).toBe(true);
    expect((await storage.list('v/j1/')).sort()).toEqual(['v/j1/a.txt', 'v/j1/b.txt', 'v/j1/c/d.bin']);
    await storage.remove('v/j1/a.txt');
    expect(await storage.stat('v/j1/a.txt')).toBeNull();
    expect(await storage.removePrefix('v/j1/')).toBe(2);
    expect(await storage.list('v/j1/')).toEqual([]);
    await expect(storage.getBuffer('v/j1/a.txt')).rejects.toMatchObject({ code: 'storage_not_found' });
  });

  it('lists keys with +, %, spaces, quotes and XML characters exactly (shim url-encodes s3rver listings)', async () => {
    const keys = ['l/a+b.txt', 'l/100%.txt', 'l/sp ace.txt', 'l/q\'uote".txt', 'l/x&y<z>.txt', 'l/ünï.txt'];
    for (const k of keys) await storage.putBuffer(k, Buffer.from(k), 'text/plain');
    expect((await storage.list('l/')).sort()).toEqual([...keys].sort());
    expect(await storage.removePrefix('l/')).toBe(keys.length);
  });

  it('answers ListMultipartUploads (s3rver: 501) with an empty result', async () => {
    const res = await fetch(new URL('/storage?uploads&prefix=a', s3.endpoint));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<IsTruncated>false</IsTruncated>');
  });

  it('streams a 70 MB putStream through minio multipart (64 MiB parts) intact', { timeout: 60_000 }, async () => {
    const size = 70 * 1024 * 1024;
    const src = generated(size);
    await storage.putStream('big/70mb.bin', src.stream, size, 'application/octet-stream');
    expect(await storage.stat('big/70mb.bin')).toEqual({ size });
    // Proof it went multipart: list (answered by the shim), initiate, two parts, complete.
    const calls = requests.filter((r) => r.path === '/storage/big/70mb.bin' || r.params.includes('uploads'));
    expect(calls.filter((r) => r.params.includes('partNumber'))).toHaveLength(2);
    expect(calls.every((r) => r.status === 200)).toBe(true);
    const hash = createHash('sha256');
    const res = await fetch(new URL('/storage/big/70mb.bin', s3.endpoint));
    for await (const chunk of res.body!) hash.update(chunk);
    expect(hash.digest('hex')).toBe(src.sha256());
    await storage.remove('big/70mb.bin');
  });

  it('fails, without hanging, when the stream length differs from size', { timeout: 60_000 }, async () => {
    await expect(storage.putStream('bad/short.bin', Readable.from([Buffer.alloc(10)]), 20, 'x')).rejects.toMatchObject({
      code: 'size_mismatch',
    });
    await expect(storage.putStream('bad/long.bin', Readable.from([Buffer.alloc(30)]), 20, 'x')).rejects.toBeInstanceOf(PermanentError);
    // Multipart path: minio only watches its own block stream for errors.
    const size = 66 * 1024 * 1024;
    const src = generated(size - 100);
    await expect(storage.putStream('bad/short-multipart.bin', src.stream, size, 'x')).rejects.toMatchObject({ code: 'size_mismatch' });
    expect(await storage.stat('bad/short.bin')).toBeNull();
    expect(await storage.stat('bad/short-multipart.bin')).toBeNull();
  });

  it('presigns offline for the current public endpoint and refuses bad expiries and paths', async () => {
    let publicUrl = new URL('http://127.0.0.1:1111');
    const st = createS3Storage({ ...s3, publicEndpoint: () => publicUrl });
    const a = new URL(await st.presignGet('k/x y.bin', 60));
    expect(a.host).toBe('127.0.0.1:1111');
    expect(a.pathname).toBe('/storage/k/x%20y.bin');
    expect(a.searchParams.get('X-Amz-Expires')).toBe('60');
    publicUrl = new URL('https://tabgrid.example');
    const b = new URL(await st.presignPut('k/x y.bin', 604_800));
    expect(b.origin).toBe('https://tabgrid.example');
    for (const bad of [0, 1.5, -1, 604_801]) {
      await expect(st.presignGet('k', bad)).rejects.toMatchObject({ code: 'bad_expiry' });
    }
    publicUrl = new URL('https://tabgrid.example/prefix');
    await expect(st.presignGet('k', 60)).rejects.toMatchObject({ code: 'bad_endpoint' });
  });

  it('reports an unreachable endpoint as retryable', async () => {
    const dead = createS3Storage({ ...s3, endpoint: new URL('http://127.0.0.1:9'), publicEndpoint: () => s3.endpoint });
    await expect(dead.ping()).rejects.toMatchObject({ name: 'RetryableError', code: 'storage_failed' });
  });
});
