/**
 * The embedded S3-compatible server used when no external S3/MinIO is
 * configured: s3rver (a Koa app) behind a tiny node:http shim, listening on
 * 127.0.0.1 only. Browsers never reach it: s3rver checks no signatures
 * (docs/facts.md, "Storage"), so they go through the verifying gateway
 * (`gateway.ts`) on the coordinator's own server instead.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from '../logger.js';

/** The slice of s3rver 3.7.1 we use; the package ships no type declarations. */
interface S3rverApp {
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
  store: S3rverStore;
  on(event: 'error', listener: (err: Error & { code?: string; status?: number }) => void): void;
}
interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
  putObject(object: { bucket: string; key: string; content: unknown }): Promise<{ size: number; md5: string }>;
}
type S3rverCtor = new (opts: { directory: string; silent: boolean }) => S3rverApp;
/** s3rver's account registry (lib/models/account.js): the keys it accepts, process-wide. */
interface S3rverAccounts {
  DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void; revokeAccessKey(accessKeyId: string): void };
}

/**
 * The embedded storage's credentials: random, made once per DATA_DIR and kept
 * in `${dataDir}/storage-credentials.json` (mode 0600). s3rver's built-in
 * `S3RVER`/`S3RVER` pair is public, and anyone who knows the secret signs a
 * URL the gateway accepts: a GET of any job's source or a PUT over any output.
 */
async function storageCredentials(dataDir: string): Promise<{ accessKey: string; secretKey: string }> {
  const file = path.join(dataDir, 'storage-credentials.json');
  const existing = await readFile(file, 'utf8').catch(() => null);
  if (existing !== null) {
    const parsed = JSON.parse(existing) as { accessKey?: unknown; secretKey?: unknown };
    if (typeof parsed.accessKey === 'string' && typeof parsed.secretKey === 'string' && parsed.secretKey.length >= 32) {
      return { accessKey: parsed.accessKey, secretKey: parsed.secretKey };
    }
    throw new Error(`${file} is malformed; delete it to make new storage credentials (outstanding storage URLs stop working)`);
  }
  const creds = { accessKey: `TG${randomBytes(9).toString('hex').toUpperCase()}`, secretKey: randomBytes(30).toString('base64url') };
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(creds)}\n`, { mode: 0o600 });
  await rename(tmp, file);
  return creds;
}

export interface EmbeddedS3 {
  readonly endpoint: URL;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** `storage`: the gateway is mounted at `/storage`, so path-style URLs line up with it. */
  readonly bucket: string;
  close(): Promise<void>;
}

const REGION = 'us-east-1';
const BUCKET = 'storage';

/**
 * Starts s3rver on a random free port on 127.0.0.1 with its data under
 * `${dataDir}/s3`. The bucket is not created here: call `ensureBucket()` on a
 * storage built from the result.
 */
export async function startEmbeddedS3(opts: { dataDir: string; logger: Logger }): Promise<EmbeddedS3> {
  const log = opts.logger.child({ component: 's3rver' });
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver') as S3rverCtor;
  const { accessKey, secretKey } = await storageCredentials(opts.dataDir);
  const accounts = require('s3rver/lib/models/account') as S3rverAccounts;
  accounts.DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);
  // The public default pair must sign nothing here. (The registry is process-wide;
  // only tests run more than one embedded server in a process, each with its own key.)
  accounts.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  const directory = path.join(opts.dataDir, 's3');
  // silent: true mutes both s3rver's winston request log and Koa's default
  // console error printer; we log requests ourselves below, at debug.
  const app = new S3rver({ directory, silent: true });
  // A listener replaces Koa's default onerror. Every S3 error answer (NoSuchKey
  // on a stat, for instance) comes through here, so these are debug, not warn.
  app.on('error', (err) => log.debug({ code: err.code, status: err.status, detail: err.message }, 's3rver error answer'));
  patchStore(app.store, log);
  const handle = app.callback();

  const server = http.createServer((req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://shim');
    // Path and parameter names only: the gateway forwards presigned queries,
    // and a signature is a bearer credential until it expires.
    res.on('finish', () =>
      log.debug(
        {
          method: req.method,
          path: url.pathname,
          params: [...url.searchParams.keys()].filter((k) => !k.startsWith('X-Amz-')),
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        's3rver request',
      ),
    );
    const bucketLevel = url.pathname.split('/').filter(Boolean).length === 1;
    if (req.method === 'GET' && bucketLevel && url.searchParams.has('uploads')) {
      answerNoMultipartUploads(url, res);
      return;
    }
    if (req.method === 'GET' && bucketLevel && url.searchParams.get('encoding-type') === 'url') {
      urlEncodeListing(res);
    }
    handle(req, res);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = new URL(`http://127.0.0.1:${port}`);
  log.info({ endpoint: endpoint.href, directory }, 'embedded S3 listening');

  return {
    endpoint,
    accessKey,
    secretKey,
    region: REGION,
    bucket: BUCKET,
    close: async () => {
      await closeServer(server);
      accounts.DUMMY_ACCOUNT.revokeAccessKey(accessKey);
    },
  };
}

/**
 * `GET /{bucket}?uploads…` is ListMultipartUploads. minio's putObject calls it
 * before every multipart upload (to resume an unfinished one) and s3rver 3.7.1
 * answers 501 NotImplemented (lib/routes.js), which fails the whole upload.
 * Answering "no unfinished uploads" makes minio start a fresh one, which
 * s3rver does implement; resuming is lost, which costs nothing on local disk.
 */
function answerNoMultipartUploads(url: URL, res: http.ServerResponse): void {
  const bucket = decodeURIComponent(url.pathname.split('/').filter(Boolean)[0] ?? '');
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>${escapeXml(bucket)}</Bucket>` +
    `<Prefix>${escapeXml(url.searchParams.get('prefix') ?? '')}</Prefix>` +
    '<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>' +
    '<NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>' +
    '<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>' +
    '</ListMultipartUploadsResult>';
  res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml) });
  res.end(xml);
}

/**
 * minio lists with `encoding-type=url` and percent-decodes every <Key> and
 * <Prefix> it gets back ('+' as a space first). s3rver ignores the parameter
 * ("currently unimplemented", lib/controllers/bucket.js) and sends raw keys,
 * so listing `a/b c+d%e.txt` threw "URI malformed" and `x+y` came back as
 * `x y`. Encode those elements as S3 would. A listing page is at most 1000
 * keys, so holding one answer in memory is fine. (<NextMarker> stays raw:
 * minio's v1 listing sends it back without decoding; we only use v2.)
 */
function urlEncodeListing(res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  const end = res.end.bind(res);
  res.write = ((chunk: string | Buffer) => {
    chunks.push(Buffer.from(chunk));
    return true;
  }) as typeof res.write;
  res.end = ((chunk?: unknown) => {
    if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) chunks.push(Buffer.from(chunk));
    let body = Buffer.concat(chunks).toString('utf8');
    if (res.statusCode === 200) {
      body = body.replace(
        /<(Key|Prefix|StartAfter|Delimiter)>([^<]*)<\/\1>/g,
        (_m, tag: string, text: string) => `<${tag}>${encodeRfc3986(unescapeXml(text))}</${tag}>`,
      );
    }
    // Koa set Content-Length for the raw body; headers are not sent yet.
    if (!res.headersSent) res.setHeader('Content-Length', Buffer.byteLength(body));
    return end(body);
  }) as typeof res.end;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * Percent-encodes everything but unreserved characters, so the result needs
 * no XML escaping: minio's XML parser left `&#39;` undecoded when `'` was
 * escaped instead (measured: key `(1)!*'.bin` listed as `(1)!*&#39;.bin`).
 */
function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** s3rver escapes text with `he.escape`: named and numeric entities. */
function unescapeXml(s: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] !== '#') return named[e.toLowerCase()] ?? m;
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

/**
 * Two fixes to s3rver 3.7.1's filesystem store (lib/stores/filesystem.js),
 * both measured through the gateway:
 *
 * - putObject writes the request body straight into the object's file, so a
 *   client that drops mid-PUT left a truncated object behind that stat and
 *   list report as good (3 MB of a declared 10 MB stayed as a 3 MB object).
 *   Node knows whether the whole declared body arrived (`complete`); when it
 *   did not, the partial object is deleted and the request fails.
 * - deleteObject removes the object's files, then every parent folder left
 *   empty (readdirSync + rmdir). DeleteObjects runs it for all keys at once,
 *   so siblings race: ENOENT, and the batch answers 500 (every test run with
 *   3+ keys in one folder). The prune can also remove a folder a concurrent
 *   PUT just created. So files only; empty folders stay, a few inodes a job.
 */
function patchStore(store: S3rverStore, log: Logger): void {
  const putObject = store.putObject.bind(store);
  store.putObject = async (object) => {
    // Only a direct PUT streams the request itself; multipart completion and
    // form POSTs pass other streams and are left alone.
    const req = object.content;
    if (!(req instanceof http.IncomingMessage)) return putObject(object);
    // s3rver pipes the body through a Transform and waits for its 'finish':
    // after an abort that never comes, and its promise and open file would
    // hang for ever. Ending our own copy of the body lets it settle.
    const body = new PassThrough();
    req.pipe(body);
    const onClose = () => {
      if (!req.complete) body.end();
    };
    // The client may be gone already: s3rver's routing is async.
    if (req.destroyed) onClose();
    else req.once('close', onClose);
    object.content = body;
    const result = await putObject(object);
    if (!req.complete) {
      await deleteWithoutPruning(store, object.bucket, object.key);
      log.info({ key: object.key, received: result.size }, 'upload cut short; partial object removed');
      throw new Error(`upload of ${object.key} ended after ${result.size} bytes, before its Content-Length`);
    }
    return result;
  };
  store.deleteObject = (bucket, key) => deleteWithoutPruning(store, bucket, key);
}

async function deleteWithoutPruning(store: S3rverStore, bucket: string, key: string): Promise<void> {
  await Promise.all(
    ['object', 'object.md5', 'metadata.json'].map((resource) => rm(store.getResourcePath(bucket, key, resource), { force: true })),
  );
}

/**
 * Node 20's server.close() drops idle keep-alive sockets (minio's agent keeps
 * them) but waits for in-flight requests; after 2 s those are cut too, so a
 * stuck upload cannot hold shutdown forever.
 */
function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => server.closeAllConnections(), 2000);
    timer.unref();
    server.close((err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
    server.closeIdleConnections();
  });
}
