import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TabgridError } from '../errors.js';
import { httpStatusOf } from '../routes/http-errors.js';
import { type Resolver, refuseSourceEndpoint, UNREACHABLE_SOURCE } from './source-address.js';
import { type DownloadOptions, downloadSource, MAX_REDIRECTS, parseSourceUrl } from './source-download.js';

/** The loopback test servers are a lab's: these tests allow private addresses, as ALLOW_PRIVATE_SOURCE_URLS=true does. */
const LAB = { allowPrivate: true } as const;

let server: Server;
let base: string;
let port: number;
/** Requests the loopback file server got: a refused URL must not have reached it. */
let served = 0;
/** A second server, on 127.0.0.2: the "allowed" server of the redirect and rebinding tests. */
let other: Server;
let otherBase: string;
let otherServed = 0;
/** Accepts connections and never answers. */
let silent: TcpServer;
let silentPort: number;
const silentSockets: Socket[] = [];
let tmpDir: string;
const body = Buffer.alloc(10_000, 7);

const listen = (srv: Server | TcpServer, host: string) =>
  new Promise<number>((r) => srv.listen(0, host, () => r((srv.address() as AddressInfo).port)));

beforeAll(async () => {
  tmpDir = await mkdtemp(path.join(tmpdir(), 'tabgrid-url-'));
  server = createServer((req, res) => {
    served++;
    if (req.url === '/clip.mp4') res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': body.length }).end(body);
    else if (req.url === '/chunked.mp4') {
      res.writeHead(200, { 'content-type': 'video/mp4' });
      res.write(body.subarray(0, 5000));
      res.end(body.subarray(5000));
    } else if (req.url === '/page') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html></html>');
    else if (req.url === '/slow.mp4') res.writeHead(200, { 'content-type': 'video/mp4' }).write(body.subarray(0, 10));
    else if (req.url === '/trickle.mp4') {
      // 10 bytes a second, forever (until the client goes).
      res.writeHead(200, { 'content-type': 'video/mp4' });
      const t = setInterval(() => res.write(body.subarray(0, 10)), 1000);
      res.on('close', () => clearInterval(t));
    } else res.writeHead(404).end();
  });
  port = await listen(server, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
  other = createServer((req, res) => {
    otherServed++;
    const m = /^\/to\?(.*)$/.exec(req.url ?? '');
    if (m) res.writeHead(302, { location: decodeURIComponent(m[1]!) }).end();
    else if (req.url === '/loop') res.writeHead(301, { location: '/loop' }).end();
    else if (req.url === '/clip.mp4') res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': body.length }).end(body);
    else res.writeHead(404).end();
  });
  otherBase = `http://127.0.0.2:${await listen(other, '127.0.0.2')}`;
  silent = createTcpServer((socket) => silentSockets.push(socket));
  silentPort = await listen(silent, '127.0.0.1');
});

afterAll(async () => {
  for (const s of [server, other]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  for (const socket of silentSockets) socket.destroy();
  await new Promise((r) => silent.close(r));
  await rm(tmpDir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TabgridError);
  return { status: httpStatusOf(err), message: (err as Error).message };
}

async function status(p: Promise<unknown>): Promise<number> {
  return (await failure(p)).status;
}

const download = (url: string, opts: Partial<DownloadOptions> = {}) =>
  downloadSource(parseSourceUrl(url), { tmpDir, maxBytes: 1e6, ...opts });

describe('downloadSource', () => {
  it('streams the body to a temp file named after the URL', async () => {
    const got = await download(`${base}/clip.mp4`, LAB);
    expect(got.filename).toBe('clip.mp4');
    expect(got.size).toBe(body.length);
    expect(await readFile(got.path)).toEqual(body);
    await rm(got.path);
  });

  it('refuses over MAX_UPLOAD_BYTES with 413, declared or not, and leaves nothing behind', async () => {
    expect(await status(download(`${base}/clip.mp4`, { ...LAB, maxBytes: 9999 }))).toBe(413);
    expect(await status(download(`${base}/chunked.mp4`, { ...LAB, maxBytes: 9999 }))).toBe(413);
    expect(await readdir(tmpDir)).toEqual([]);
  });

  it('refuses other schemes, missing files, web pages without yt-dlp and slow servers in words', async () => {
    expect(() => parseSourceUrl('file:///etc/passwd')).toThrow(/only http and https/);
    expect(() => parseSourceUrl('not a url')).toThrow(/not a valid URL/);
    expect(await status(download(`${base}/missing.mp4`, LAB))).toBe(422);
    await expect(download(`${base}/page`, { ...LAB, ytDlp: null })).rejects.toThrow(/web page, not a video file/);
    await expect(download(`${base}/slow.mp4`, { ...LAB, timeoutMs: 300 })).rejects.toThrow(/timed out/);
    expect(await readdir(tmpDir)).toEqual([]);
  });

  it('cuts off a server that sends under the minimum rate, in words, and leaves nothing behind', async () => {
    const { status: code, message } = await failure(
      download(`${base}/trickle.mp4`, { ...LAB, minBytesPerSecond: 1000, rateWindowMs: 1500, timeoutMs: 20_000 }),
    );
    expect(code).toBe(422);
    expect(message).toMatch(/under the minimum of 1000 bytes per second \(UPLOAD_MIN_BYTES_PER_SECOND\)/);
    expect(await readdir(tmpDir)).toEqual([]);
  }, 10_000);
});

describe('downloadSource: only public addresses (SSRF)', () => {
  /** Every refusal: 422, the one uniform message, the loopback server never reached, nothing left on disk. */
  async function refused(url: string, opts: Partial<DownloadOptions> = {}): Promise<void> {
    const before = served;
    const { status: code, message } = await failure(download(url, opts));
    expect(code, url).toBe(422);
    expect(message, url).toBe(UNREACHABLE_SOURCE);
    expect(served, `${url} reached the server`).toBe(before);
  }

  it('refuses loopback in every spelling, with the same words, without connecting', async () => {
    for (const host of [
      '127.0.0.1',
      'localhost',
      '0.0.0.0',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '2130706433',
      '0177.0.0.1',
      '0x7f.1',
      '127.1',
      '127.0.0.2',
    ]) {
      await refused(`http://${host}:${port}/clip.mp4`);
    }
    expect(await readdir(tmpDir)).toEqual([]);
  });

  it('refuses a public-looking name that resolves to loopback, or to public and private addresses at once', async () => {
    const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
    await refused(`http://videos.example.com:${port}/clip.mp4`, { resolve: toLoopback });
    const mixed: Resolver = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];
    await refused(`http://videos.example.com:${port}/clip.mp4`, { resolve: mixed });
    const mapped: Resolver = async () => [{ address: '::ffff:127.0.0.1', family: 6 }];
    await refused(`http://videos.example.com:${port}/clip.mp4`, { resolve: mapped });
  });

  it('refuses a redirect from an allowed server to loopback, on every hop', async () => {
    const allowOther = { allowPrivate: ['127.0.0.2/32'] };
    // The allowed server itself is fetched, redirects included.
    const ok = await download(`${otherBase}/to?${encodeURIComponent(`${otherBase}/clip.mp4`)}`, allowOther);
    expect(ok.size).toBe(body.length);
    await rm(ok.path);
    for (const target of [`${base}/clip.mp4`, `http://localhost:${port}/clip.mp4`, `http://[::ffff:127.0.0.1]:${port}/clip.mp4`]) {
      const before = otherServed;
      await refused(`${otherBase}/to?${encodeURIComponent(target)}`, allowOther);
      expect(otherServed).toBe(before + 1);
    }
    // A hop that leads to a redirect to loopback two hops later.
    const twoHops = `${otherBase}/to?${encodeURIComponent(`${otherBase}/to?${encodeURIComponent(`${base}/clip.mp4`)}`)}`;
    await refused(twoHops, allowOther);
    await expect(download(`${otherBase}/loop`, allowOther)).rejects.toThrow(`more than ${MAX_REDIRECTS} redirects`);
  });

  it('connects to the address it checked: a name that resolves elsewhere the second time is not looked up again', async () => {
    let lookups = 0;
    const rebinding: Resolver = async () =>
      lookups++ === 0 ? [{ address: '127.0.0.2', family: 4 }] : [{ address: '127.0.0.1', family: 4 }];
    const before = { served, otherServed };
    const got = await download(`http://rebind.example.com:${new URL(otherBase).port}/clip.mp4`, {
      allowPrivate: ['127.0.0.2/32'],
      resolve: rebinding,
    });
    expect(got.size).toBe(body.length);
    await rm(got.path);
    expect(lookups).toBe(1);
    expect(otherServed).toBe(before.otherServed + 1);
    expect(served).toBe(before.served);
  });

  it("refuses the embedded S3 server's port even where private addresses are allowed", async () => {
    const unregister = refuseSourceEndpoint(new URL(base));
    try {
      await refused(`${base}/clip.mp4`, LAB);
      await refused(`http://localhost:${port}/clip.mp4`, LAB);
      await refused(`http://[::ffff:127.0.0.1]:${port}/clip.mp4`, LAB);
    } finally {
      unregister();
    }
    const got = await download(`${base}/clip.mp4`, LAB);
    await rm(got.path);
  });

  it('answers connection failures with the same words as refusals: closed port, no answer, unknown name', async () => {
    const gone = createTcpServer();
    const closed = await listen(gone, '127.0.0.1');
    await new Promise((r) => gone.close(r));
    await refused(`http://127.0.0.1:${closed}/clip.mp4`, LAB);
    await refused(`http://127.0.0.1:${silentPort}/clip.mp4`, { ...LAB, timeoutMs: 500 });
    const unknown: Resolver = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    await refused('http://no-such-host.example.com/clip.mp4', { resolve: unknown });
    const none: Resolver = async () => [];
    await refused('http://empty.example.com/clip.mp4', { resolve: none });
    expect(await readdir(tmpDir)).toEqual([]);
  });
});
