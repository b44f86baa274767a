import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TabgridError } from '../errors.js';
import { httpStatusOf } from '../routes/http-errors.js';
import { downloadSource, parseSourceUrl } from './source-download.js';

let server: Server;
let base: string;
let tmpDir: string;
const body = Buffer.alloc(10_000, 7);

beforeAll(async () => {
  tmpDir = await mkdtemp(path.join(tmpdir(), 'tabgrid-url-'));
  server = createServer((req, res) => {
    if (req.url === '/clip.mp4') res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': body.length }).end(body);
    else if (req.url === '/chunked.mp4') {
      res.writeHead(200, { 'content-type': 'video/mp4' });
      res.write(body.subarray(0, 5000));
      res.end(body.subarray(5000));
    } else if (req.url === '/page') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html></html>');
    else if (req.url === '/slow.mp4') res.writeHead(200, { 'content-type': 'video/mp4' }).write(body.subarray(0, 10));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(tmpDir, { recursive: true, force: true });
});

async function status(p: Promise<unknown>): Promise<number> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TabgridError);
  return httpStatusOf(err);
}

describe('downloadSource', () => {
  it('streams the body to a temp file named after the URL', async () => {
    const got = await downloadSource(parseSourceUrl(`${base}/clip.mp4`), { tmpDir, maxBytes: 1e6 });
    expect(got.filename).toBe('clip.mp4');
    expect(got.size).toBe(body.length);
    expect(await readFile(got.path)).toEqual(body);
    await rm(got.path);
  });

  it('refuses over MAX_UPLOAD_BYTES with 413, declared or not, and leaves nothing behind', async () => {
    expect(await status(downloadSource(parseSourceUrl(`${base}/clip.mp4`), { tmpDir, maxBytes: 9999 }))).toBe(413);
    expect(await status(downloadSource(parseSourceUrl(`${base}/chunked.mp4`), { tmpDir, maxBytes: 9999 }))).toBe(413);
    expect(await readdir(tmpDir)).toEqual([]);
  });

  it('refuses other schemes, missing files, web pages without yt-dlp and slow servers in words', async () => {
    expect(() => parseSourceUrl('file:///etc/passwd')).toThrow(/only http and https/);
    expect(() => parseSourceUrl('not a url')).toThrow(/not a valid URL/);
    expect(await status(downloadSource(parseSourceUrl(`${base}/missing.mp4`), { tmpDir, maxBytes: 1e6 }))).toBe(422);
    await expect(downloadSource(parseSourceUrl(`${base}/page`), { tmpDir, maxBytes: 1e6, ytDlp: null })).rejects.toThrow(
      /web page, not a video file/,
    );
    await expect(downloadSource(parseSourceUrl(`${base}/slow.mp4`), { tmpDir, maxBytes: 1e6, timeoutMs: 300 })).rejects.toThrow(
      /timed out/,
    );
    expect(await readdir(tmpDir)).toEqual([]);
  });
});
