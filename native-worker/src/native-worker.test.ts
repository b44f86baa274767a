/**
 * The native worker against a hostile coordinator: a fake one (a real HTTP
 * and WebSocket server on loopback, speaking the shared protocol) that sends
 * assignments a real coordinator never would: URLs off its origin or absurd,
 * a chunk that is not video. The worker must fetch nothing but the
 * coordinator's and its storage's URLs, as a tab's page policy allows, and
 * fail such tasks in words; a real chunk next to them must still be
 * transcoded and uploaded. Real ffmpeg, real sockets, only loopback.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  type AssignMessage,
  type ClientMessage,
  clientMessageSchema,
  type EncodeParams,
  mp4SampleCount,
  parseMessage,
  PROTOCOL_VERSION,
  WS_PATH,
} from '@tabgrid/shared';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { type NativeWorker, startNativeWorker } from './native-worker.js';

const run = promisify(execFile);

const r240: EncodeParams = {
  rendition: '240p',
  codec: 'h264',
  width: 426,
  height: 240,
  rotation: 0,
  crf: 23,
  maxrateKbps: 400,
  bufsizeKbps: 800,
  preset: 'veryfast',
  frames: 60,
};

let dir: string;
let chunk: Buffer;
let coordinator: Server;
let elsewhere: Server;
let coordUrl: string;
let elsewhereUrl: string;
/** Requests that reached the server that is neither the coordinator nor its storage. */
const strayRequests: string[] = [];
/** Segments PUT to the coordinator's storage, by path. */
const uploads = new Map<string, Buffer>();
const received: ClientMessage[] = [];
let socket: WebSocket | undefined;
let worker: NativeWorker | null = null;

const listen = (s: Server, host: string) =>
  new Promise<string>((resolve) => s.listen(0, host, () => resolve(`http://${host}:${(s.address() as AddressInfo).port}`)));

async function body(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'native-worker-'));
  const file = path.join(dir, 'chunk.mkv');
  await run('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-frames:v', '60'],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '14', '-g', '60', file],
  ]);
  chunk = await readFile(file);

  elsewhere = createServer((req, res) => {
    strayRequests.push(`${req.method} ${req.url}`);
    res.end(chunk);
  });
  elsewhereUrl = await listen(elsewhere, '127.0.0.2');

  coordinator = createServer(async (req, res) => {
    if (req.url === '/contribute/') {
      res.setHeader('Content-Security-Policy', "default-src 'self'; connect-src 'self'");
      res.end('<!doctype html>');
    } else if (req.url === '/storage/chunk.mkv') res.end(chunk);
    else if (req.url === '/storage/not-video.mkv') res.end(Buffer.from('this is not a video\n'.repeat(200)));
    else if (req.url === '/storage/redirect.mkv') res.writeHead(302, { Location: `${elsewhereUrl}/chunk.mkv` }).end();
    else if (req.method === 'PUT' && req.url?.startsWith('/storage/seg/')) {
      uploads.set(req.url, await body(req));
      res.end();
    } else res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  coordinator.on('upgrade', (req, sock, head) => {
    if (req.url !== WS_PATH) return sock.destroy();
    wss.handleUpgrade(req, sock, head, (ws) => {
      socket = ws;
      ws.on('message', (data) => {
        const parsed = parseMessage(clientMessageSchema, data.toString());
        if (!parsed.ok) throw new Error(`the worker sent an invalid message: ${parsed.error}`);
        received.push(parsed.message);
        const m = parsed.message;
        if (m.type === 'hello') {
          ws.send(
            JSON.stringify({
              type: 'welcome',
              id: 'w1',
              replyTo: m.id,
              protocol: PROTOCOL_VERSION,
              workerId: 'wHostileTest01',
              credential: 'cred',
              leaseTtlSeconds: 30,
              heartbeatIntervalSeconds: 10,
            }),
          );
        }
        if (m.type === 'complete')
          ws.send(JSON.stringify({ type: 'result', id: `r-${m.id}`, replyTo: m.id, leaseId: m.leaseId, accepted: true }));
      });
    });
  });
  coordUrl = await listen(coordinator, '127.0.0.1');
  worker = await startNativeWorker({ url: coordUrl, concurrency: 1, threads: 1, logger: pino({ level: 'silent' }) });
  for (let i = 0; i < 500 && !received.some((m) => m.type === 'hello'); i++) await new Promise((r) => setTimeout(r, 20));
}, 60_000);

afterAll(async () => {
  await worker?.quit('test over');
  await new Promise((r) => coordinator.close(r));
  await new Promise((r) => elsewhere.close(r));
  await rm(dir, { recursive: true, force: true });
});

let seq = 0;
/** Sends an assignment of one 240p rung and waits for the worker's answer to it: its `fail`, or its `complete`. */
async function assign(input: { url: string; size: number }, outputUrl: string): Promise<ClientMessage> {
  const n = ++seq;
  const msg: AssignMessage = {
    type: 'assign',
    id: `a${n}`,
    jobId: 'job-hostile',
    chunk: n,
    input,
    rungs: [{ leaseId: `lease-${n}`, token: `tok-${n}`, attempt: 1, output: { url: outputUrl, contentType: 'video/mp4' }, params: r240 }],
  };
  socket!.send(JSON.stringify(msg));
  for (let i = 0; i < 1500; i++) {
    const answer = received.find((m) => (m.type === 'fail' || m.type === 'complete') && m.leaseId === `lease-${n}`);
    if (answer) return answer;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no answer to assignment ${n}`);
}

describe('a native worker given hostile assignments', () => {
  it('learned only the coordinator’s origin from its contributor page', () => {
    expect([...worker!.origins]).toEqual([coordUrl]);
  });

  it.each([
    [
      'another address',
      () => `${elsewhereUrl}/chunk.mkv`,
      /refused to GET http:\/\/127\.0\.0\.2:\d+\/chunk\.mkv: .*neither the coordinator nor its storage/,
    ],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/', /neither the coordinator nor its storage/],
    ['the coordinator’s host on another port', () => coordUrl.replace(/:(\d+)$/, ':1'), /neither the coordinator nor its storage/],
    ['a local file', () => 'file:///etc/passwd', /file: is not http\(s\)/],
    ['credentials in the URL', () => `${coordUrl.replace('http://', 'http://user:pw@')}/storage/chunk.mkv`, /carries credentials/],
  ])('refuses a chunk URL to %s, fetching nothing', async (_what, url, why) => {
    const answer = await assign({ url: url(), size: chunk.byteLength }, `${coordUrl}/storage/seg/x.mp4`);
    expect(answer).toMatchObject({ type: 'fail', reason: expect.stringMatching(why) });
    expect(strayRequests).toEqual([]);
  });

  it('does not follow a coordinator URL that redirects elsewhere', async () => {
    const answer = await assign({ url: `${coordUrl}/storage/redirect.mkv`, size: chunk.byteLength }, `${coordUrl}/storage/seg/r.mp4`);
    expect(answer).toMatchObject({
      type: 'fail',
      reason: expect.stringMatching(/^downloading: refused to follow GET .* to http:\/\/127\.0\.0\.2:\d+\/chunk\.mkv$/),
    });
    expect(strayRequests).toEqual([]);
  });

  it('refuses an absurd chunk size before fetching it', async () => {
    const answer = await assign({ url: `${coordUrl}/storage/chunk.mkv`, size: 2 ** 40 }, `${coordUrl}/storage/seg/big.mp4`);
    expect(answer).toMatchObject({ type: 'fail', reason: expect.stringMatching(/exceeds/) });
  });

  it('encodes a real chunk but refuses to upload its segment anywhere else', async () => {
    const answer = await assign({ url: `${coordUrl}/storage/chunk.mkv`, size: chunk.byteLength }, `${elsewhereUrl}/seg.mp4`);
    expect(answer).toMatchObject({
      type: 'fail',
      reason: expect.stringMatching(/^uploading: refused to PUT http:\/\/127\.0\.0\.2:\d+\/seg\.mp4/),
    });
    expect(strayRequests).toEqual([]);
  }, 60_000);

  it('fails a chunk that is not video, in ffmpeg’s words', async () => {
    const bogus = Buffer.from('this is not a video\n'.repeat(200));
    const answer = await assign({ url: `${coordUrl}/storage/not-video.mkv`, size: bogus.byteLength }, `${coordUrl}/storage/seg/nv.mp4`);
    expect(answer).toMatchObject({
      type: 'fail',
      reason: expect.stringMatching(/ffmpeg_failed: .*Invalid data found when processing input/s),
    });
    expect(uploads.has('/storage/seg/nv.mp4')).toBe(false);
  }, 60_000);

  it('still transcodes and uploads an honest assignment after all that', async () => {
    const answer = await assign(
      { url: `${coordUrl}/storage/chunk.mkv`, size: chunk.byteLength },
      `${coordUrl}/storage/seg/ok.mp4?X-Amz-Signature=x`,
    );
    expect(answer).toMatchObject({ type: 'complete' });
    const segment = uploads.get('/storage/seg/ok.mp4?X-Amz-Signature=x');
    expect(segment && mp4SampleCount(segment)).toBe(60);
    expect(strayRequests).toEqual([]);
  }, 60_000);
});
