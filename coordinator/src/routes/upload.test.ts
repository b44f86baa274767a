/**
 * POST /api/jobs against hostile clients, through the coordinator's own app
 * on a real socket: a slow-loris upload is cut off with 408 in words and its
 * connection closed, an upload over the time limit too, uploads over
 * MAX_CONCURRENT_UPLOADS get 503 with Retry-After (and a slot frees up when
 * one ends), and a URL submission's JSON body is capped in size and time.
 * Nothing reaches the database: every request here ends before a job is
 * created (bodies that arrive in full are not videos: 422).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAdaptorServer } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.js';
import { loadConfig } from '../config.js';
import type { Db } from '../db/client.js';
import { createLogger } from '../logger.js';
import { createLocalNotifier } from '../notify/index.js';
import type { Storage } from '../storage/storage.js';

let dataDir: string;
let server: Server;
let port: number;
const sockets: Socket[] = [];
const BOUNDARY = 'tabgridtestboundary';
const HEAD = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\nContent-Type: application/octet-stream\r\n\r\n`;
const TAIL = `\r\n--${BOUNDARY}--\r\n`;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'tabgrid-upload-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    MAX_CONCURRENT_UPLOADS: '2',
    UPLOAD_MIN_BYTES_PER_SECOND: '1000',
    UPLOAD_RATE_WINDOW_SECONDS: '1',
    UPLOAD_TIMEOUT_SECONDS: '4',
    HTTP_HEADERS_TIMEOUT_SECONDS: '1',
  });
  const ctx = {
    db: {} as Db,
    storage: {} as Storage,
    tools: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
    config,
    logger: createLogger('silent'),
    notifier: createLocalNotifier(),
  };
  server = createAdaptorServer({ fetch: createApp(ctx).fetch }) as Server;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dataDir, { recursive: true, force: true });
});

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: { error?: { code: string; message: string } };
  /** The server closed the connection (within the wait). */
  readonly closed: boolean;
}

/** A request written by hand on a raw socket, so a test can send its body as slowly as it likes. */
function rawRequest(head: string): { socket: Socket; answer: Promise<RawAnswer> } {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  let text = '';
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    const parse = (closed: boolean) => {
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return false;
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const raw = text.slice(split + 4);
      let body: RawAnswer['body'] = {};
      try {
        body = JSON.parse(raw);
      } catch {
        if (!closed) return false;
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body, closed });
      return true;
    };
    socket.on('close', () => parse(true) || reject(new Error(`connection closed without an answer: ${JSON.stringify(text)}`)));
  });
  socket.write(head);
  return { socket, answer };
}

/** Without `close`, the connection is kept alive: an answer with `closed` set was closed by the server on its own. */
function uploadHead(contentLength: number, close = false): string {
  return (
    `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${close ? 'Connection: close\r\n' : ''}` +
    // A browser's multipart POST is a simple request: the CSRF guard wants the API client's header.
    `X-Tabgrid-Request: 1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${contentLength}\r\n\r\n${HEAD}`
  );
}

/** Writes `bytes` bytes every `everyMs` until stopped. */
function trickle(socket: Socket, bytes: number, everyMs: number): () => void {
  const t = setInterval(() => socket.writable && socket.write(Buffer.alloc(bytes, 1)), everyMs);
  return () => clearInterval(t);
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what}: no answer within ${ms} ms`)))]);

describe('POST /api/jobs against slow and many uploads', () => {
  it('cuts off a slow-loris upload (1 byte/s) with 408 in words and closes its connection', async () => {
    const { socket, answer } = rawRequest(uploadHead(10_000_000));
    const stop = trickle(socket, 1, 1000);
    try {
      // One 1 s window under 1000 bytes/s, plus the time to answer.
      const got = await within(answer, 4000, 'slow upload');
      expect(got.status).toBe(408);
      expect(got.body.error?.code).toBe('request_timeout');
      expect(got.body.error?.message).toMatch(
        /^the upload sent \d+ bytes in the last 1 s, under the minimum of 1000 bytes per second \(UPLOAD_MIN_BYTES_PER_SECOND\)/,
      );
      expect(got.headers.connection).toBe('close');
      expect(got.closed).toBe(true);
    } finally {
      stop();
    }
    expect(await readdir(path.join(dataDir, 'uploads'))).toEqual([]);
  }, 10_000);

  it('cuts off an upload that keeps the rate but goes over UPLOAD_TIMEOUT_SECONDS', async () => {
    const { socket, answer } = rawRequest(uploadHead(100_000_000));
    const stop = trickle(socket, 2000, 200);
    try {
      const got = await within(answer, 8000, 'long upload');
      expect(got.status).toBe(408);
      expect(got.body.error?.message).toMatch(/^the upload took longer than 4 s \(UPLOAD_TIMEOUT_SECONDS\) and was cut off/);
      expect(got.closed).toBe(true);
    } finally {
      stop();
    }
  }, 12_000);

  it('refuses uploads over MAX_CONCURRENT_UPLOADS with 503 and Retry-After, and takes one again when a slot frees', async () => {
    const first = rawRequest(uploadHead(10_000_000));
    const second = rawRequest(uploadHead(10_000_000));
    // Both are open and sending (above the minimum rate) before the third arrives.
    const stops = [trickle(first.socket, 600, 200), trickle(second.socket, 600, 200)];
    await sleep(300);
    try {
      const third = rawRequest(uploadHead(10_000_000));
      const busy = await within(third.answer, 3000, 'third upload');
      expect(busy.status).toBe(503);
      expect(busy.headers['retry-after']).toBe('30');
      expect(busy.headers.connection).toBe('close');
      expect(busy.body.error?.code).toBe('busy');
      expect(busy.body.error?.message).toBe(
        'the coordinator is already receiving 2 uploads, its limit (MAX_CONCURRENT_UPLOADS); try again in 30 seconds',
      );
      expect(busy.closed).toBe(true);
    } finally {
      for (const stop of stops) stop();
    }
    // The two clients go away; their slots free up, and a complete upload is taken (and refused as no video: 422).
    for (const gone of [first, second]) {
      gone.answer.catch(() => {});
      gone.socket.destroy();
    }
    const body = Buffer.concat([Buffer.alloc(3000, 1), Buffer.from(TAIL)]);
    const length = Buffer.byteLength(HEAD) + body.length;
    let status = 0;
    let tries = 0;
    for (; tries < 20 && status !== 422; tries++) {
      await sleep(100);
      const next = rawRequest(uploadHead(length, true));
      next.socket.write(body);
      status = (await within(next.answer, 10_000, 'upload after the others')).status;
    }
    expect(status).toBe(422);
  }, 30_000);
});

describe('POST /api/jobs with a JSON body (URL source)', () => {
  const jsonHead = (length: number) =>
    `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

  it('refuses a body over 16 KiB with 413 without buffering it', async () => {
    const { socket, answer } = rawRequest(jsonHead(1_000_000));
    socket.write(`{"url":"http://example.com/${'a'.repeat(20_000)}`);
    const got = await within(answer, 3000, 'large JSON');
    expect(got.status).toBe(413);
    expect(got.body.error?.message).toMatch(/JSON body is larger than 16384 bytes/);
    expect(got.headers.connection).toBe('close');
  });

  it('refuses a body that does not arrive within the header timeout', async () => {
    const { socket, answer } = rawRequest(jsonHead(100));
    socket.write('{"url":');
    const got = await within(answer, 4000, 'slow JSON');
    expect(got.status).toBe(408);
    expect(got.body.error?.message).toMatch(/did not arrive within 1 s/);
  });

  it('refuses a loopback URL (this very coordinator) with the uniform words', async () => {
    // Were it fetched, GET /healthz would answer JSON and the probe would say "not a decodable video" instead.
    const json = JSON.stringify({ url: `http://[::ffff:127.0.0.1]:${port}/healthz` });
    const { answer } = rawRequest(jsonHead(Buffer.byteLength(json)) + json);
    const got = await within(answer, 3000, 'metadata URL');
    expect(got.status).toBe(422);
    expect(got.body.error?.message).toMatch(/^could not download the URL: its host is not a public address/);
  });
});
