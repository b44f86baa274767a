import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TaskFailure } from '@tabgrid/web-worker-client/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedOrigins, connectSrcOrigins, guardedFetch, redactUrl, RefusedUrlError, refusal } from './url-guard.js';

const coordinator = new URL('http://127.0.0.1:8000');

describe('connectSrcOrigins', () => {
  it('reads the coordinator (self) and its storage’s exact origins from the contributor page’s policy', () => {
    const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' https://s3.example:9000; media-src 'none'";
    expect([...connectSrcOrigins(csp, coordinator)]).toEqual(['http://127.0.0.1:8000', 'https://s3.example:9000']);
  });

  it('widens to nothing it cannot name exactly: wildcards, bare schemes, keywords, other directives', () => {
    const csp = "img-src https://img.example; connect-src 'self' * https: https://*.example.com data: 'unsafe-inline' http://ok.example/";
    expect([...connectSrcOrigins(csp, coordinator)]).toEqual(['http://127.0.0.1:8000', 'http://ok.example']);
    expect([...connectSrcOrigins("default-src 'self'", coordinator)]).toEqual([]);
  });
});

describe('refusal', () => {
  const origins = new Set(['http://127.0.0.1:8000', 'https://s3.example:9000']);

  it('allows the coordinator’s and the storage’s URLs', () => {
    expect(refusal('http://127.0.0.1:8000/storage/tabgrid/videos/x/chunks/chunk_0000.mkv?X-Amz-Signature=ab', origins)).toBeNull();
    expect(refusal('https://s3.example:9000/tabgrid/videos/x/segments/720p/chunk_0000.a1.mp4?sig=1', origins)).toBeNull();
  });

  it.each([
    ['http://127.0.0.2:8000/storage/x', 'neither the coordinator nor its storage'],
    ['http://127.0.0.1:8001/storage/x', 'neither the coordinator nor its storage'],
    ['https://127.0.0.1:8000/storage/x', 'neither the coordinator nor its storage'],
    ['http://169.254.169.254/latest/meta-data/', 'neither the coordinator nor its storage'],
    ['http://[::1]:8000/storage/x', 'neither the coordinator nor its storage'],
    ['http://2130706434:8000/x', 'neither the coordinator nor its storage'], // 127.0.0.2 in decimal
    ['https://s3.example.evil.test:9000/x', 'neither the coordinator nor its storage'],
    ['file:///etc/passwd', 'file: is not http(s)'],
    ['data:video/mp4;base64,AAAA', 'data: is not http(s)'],
    ['ftp://127.0.0.1:8000/x', 'ftp: is not http(s)'],
    ['http://user:pass@127.0.0.1:8000/storage/x', 'carries credentials'],
    ['not a url', 'not a URL'],
  ])('refuses %s', (url, why) => {
    expect(refusal(url, origins)).toContain(why);
  });
});

describe('redactUrl', () => {
  it('keeps no signature and no credentials for the logs', () => {
    expect(redactUrl('http://u:p@127.0.0.1:8000/storage/a.mkv?X-Amz-Signature=secret')).toBe('http://127.0.0.1:8000/storage/a.mkv');
  });
});

describe('guardedFetch and allowedOrigins against real servers', () => {
  let coord: Server;
  let other: Server;
  let coordUrl: URL;
  let otherUrl: URL;
  const otherHits: string[] = [];

  const listen = (s: Server, host: string) =>
    new Promise<URL>((resolve) => s.listen(0, host, () => resolve(new URL(`http://${host}:${(s.address() as AddressInfo).port}`))));

  beforeAll(async () => {
    other = createServer((req, res) => {
      otherHits.push(req.url ?? '');
      res.end('off-origin bytes');
    });
    otherUrl = await listen(other, '127.0.0.2');
    coord = createServer((req, res) => {
      if (req.url === '/contribute/') {
        res.setHeader(
          'Content-Security-Policy',
          `default-src 'self'; connect-src 'self' ${otherUrl.origin.replace('127.0.0.2', '127.0.0.3')}`,
        );
        res.end('<!doctype html>');
      } else if (req.url === '/redirect') {
        res.writeHead(302, { Location: `${otherUrl.origin}/stolen` }).end();
      } else res.end('chunk bytes');
    });
    coordUrl = await listen(coord, '127.0.0.1');
  });
  afterAll(async () => {
    await new Promise((r) => coord.close(r));
    await new Promise((r) => other.close(r));
  });

  it('learns the storage origin from the coordinator’s contributor page', async () => {
    const origins = await allowedOrigins(coordUrl);
    expect([...origins].sort()).toEqual([coordUrl.origin, otherUrl.origin.replace('127.0.0.2', '127.0.0.3')].sort());
  });

  it('fetches the coordinator’s URLs, and nothing else: no connection is opened, no retry is worth it, no redirect is followed', async () => {
    const f = guardedFetch(await allowedOrigins(coordUrl));
    expect(await (await f(`${coordUrl.origin}/storage/chunk.mkv`)).text()).toBe('chunk bytes');
    const refused = await f(`${otherUrl.origin}/storage/chunk.mkv`, { method: 'PUT', body: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RefusedUrlError);
    expect(refused).toBeInstanceOf(TaskFailure); // the runner fails the task at once instead of retrying
    expect((refused as Error).message).toMatch(/^refused to PUT http:\/\/127\.0\.0\.2:\d+\/storage\/chunk\.mkv: /);
    await expect(f(`${coordUrl.origin}/redirect`)).rejects.toThrow(
      /^refused to follow GET http:\/\/127\.0\.0\.1:\d+\/redirect to http:\/\/127\.0\.0\.2:\d+\/stolen$/,
    );
    expect(otherHits).toEqual([]);
  });
});
