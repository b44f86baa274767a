/**
 * Checks SigV4 presigned URLs made by `createS3Storage`'s signer. s3rver checks
 * none (docs/facts.md, "Storage": tampered, re-keyed and hand-extended URLs
 * all pass), so in embedded mode this is the only thing between a browser and the
 * bucket.
 *
 * No SigV4 of our own: the expected signature is re-derived with minio's own
 * `presignedUrl(method, bucket, key, expires, reqParams, requestDate)` on a
 * client for the request's Host, then compared in constant time. That matched
 * for every key tried (docs/facts.md, "Storage": spaces, unicode, `+`, `%`, `#?`,
 * nested folders) given the conditions noted at each step below.
 */
import { timingSafeEqual } from 'node:crypto';
import { Client } from 'minio';
import { MAX_PRESIGN_SECONDS, minioClientOptions } from './s3-storage.js';

export interface PresignedRequest {
  readonly method: string;
  /** The Host header as received: host[:port] is signed, the scheme is not. */
  readonly host: string | undefined;
  /** The path as sent, still percent-encoded: `/{bucket}/{key}`. */
  readonly rawPath: string;
  /** The query string as sent, without `?`. */
  readonly rawQuery: string;
}

export type PresignVerdict =
  | { readonly ok: true; readonly key: string }
  | { readonly ok: false; readonly code: PresignRefusal; readonly message: string; readonly key?: string };

export type PresignRefusal =
  | 'presign_missing'
  | 'presign_malformed'
  | 'presign_expired'
  | 'presign_not_yet_valid'
  | 'presign_wrong_method'
  | 'presign_signature_mismatch';

export interface PresignVerifierOptions {
  readonly bucket: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** For tests; defaults to Date.now. */
  readonly now?: () => number;
}

const AUTH_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
] as const;
const METHODS = ['GET', 'HEAD', 'PUT'];
/** AWS accepts requests dated up to 15 min ahead of its clock; beyond that the URL is not valid yet. */
const MAX_SKEW_MS = 15 * 60_000;
/** The Host header is the client's to choose: bound the per-host client cache. */
const MAX_CACHED_HOSTS = 32;
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export function createPresignVerifier(opts: PresignVerifierOptions): (req: PresignedRequest) => Promise<PresignVerdict> {
  const now = opts.now ?? Date.now;
  const creds = { accessKey: opts.accessKey, secretKey: opts.secretKey, region: opts.region };
  const clients = new Map<string, Client>();
  const clientFor = (host: string): Client => {
    let c = clients.get(host);
    if (!c) {
      if (clients.size >= MAX_CACHED_HOSTS) clients.clear();
      // Any scheme works: minio signs `host[:port]` with the port left out
      // only when it is the scheme's default, and browsers leave it out then.
      c = new Client(minioClientOptions(new URL(`http://${host}`), creds));
      clients.set(host, c);
    }
    return c;
  };
  const prefix = `/${opts.bucket}/`;

  return async (req) => {
    const refuse = (code: PresignRefusal, message: string, key?: string): PresignVerdict => ({ ok: false, code, message, key });
    const method = req.method.toUpperCase();
    if (!METHODS.includes(method)) return refuse('presign_malformed', `method ${method} is not served`);

    if (!req.rawPath.startsWith(prefix) || req.rawPath.length === prefix.length) {
      return refuse('presign_malformed', `path must be ${prefix}<key>`);
    }
    let key: string;
    try {
      // Exactly one percent-decoding, and not form decoding: `+` stays `+`.
      key = decodeURIComponent(req.rawPath.slice(prefix.length));
    } catch {
      return refuse('presign_malformed', 'the key is not valid percent-encoding');
    }

    const query = parseQuery(req.rawQuery);
    if (!query) return refuse('presign_malformed', 'the query string is not valid percent-encoding or repeats a parameter', key);
    const missing = AUTH_PARAMS.filter((p) => query.get(p) === undefined);
    if (missing.length > 0) {
      return refuse('presign_missing', `a presigned URL is required; missing ${missing.join(', ')}`, key);
    }
    const param = (p: (typeof AUTH_PARAMS)[number]): string => query.get(p) ?? '';

    if (param('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256')
      return refuse('presign_malformed', 'X-Amz-Algorithm must be AWS4-HMAC-SHA256', key);
    if (param('X-Amz-SignedHeaders') !== 'host') return refuse('presign_malformed', 'X-Amz-SignedHeaders must be "host"', key);
    const signature = param('X-Amz-Signature');
    if (!/^[0-9a-f]{64}$/.test(signature)) return refuse('presign_malformed', 'X-Amz-Signature must be 64 lowercase hex digits', key);
    const date = parseAmzDate(param('X-Amz-Date'));
    if (!date) return refuse('presign_malformed', 'X-Amz-Date must look like 20261125T004000Z', key);
    const expiresText = param('X-Amz-Expires');
    const expires = /^[0-9]{1,6}$/.test(expiresText) ? Number(expiresText) : NaN;
    if (!(expires >= 1 && expires <= MAX_PRESIGN_SECONDS)) {
      return refuse('presign_malformed', `X-Amz-Expires must be an integer in 1..${MAX_PRESIGN_SECONDS}`, key);
    }
    const t = now();
    if (t > date.getTime() + expires * 1000) return refuse('presign_expired', 'the presigned URL has expired', key);
    if (date.getTime() > t + MAX_SKEW_MS) return refuse('presign_not_yet_valid', 'X-Amz-Date is in the future', key);

    const host = req.host;
    if (!host || !HOST_RE.test(host)) return refuse('presign_malformed', 'missing or invalid Host header', key);

    // Anything else in the query was signed as minio's reqParams (e.g.
    // response-content-type) and must be passed back the same way.
    const extra: Record<string, string> = {};
    for (const [k, v] of query) if (!(AUTH_PARAMS as readonly string[]).includes(k)) extra[k] = v;

    let client: Client;
    try {
      client = clientFor(host);
    } catch {
      return refuse('presign_malformed', 'invalid Host header', key);
    }
    const given = Buffer.from(signature);
    const signedFor = async (m: string): Promise<boolean> => {
      const url = await client.presignedUrl(m, opts.bucket, key, expires, extra, date);
      const expected = Buffer.from(new URL(url).searchParams.get('X-Amz-Signature') ?? '');
      return expected.length === given.length && timingSafeEqual(expected, given);
    };
    if (await signedFor(method)) return { ok: true, key };
    // The method is signed but not stated in the URL; finding the one it was
    // signed for only costs HMACs on this failure path and gives a clear reason.
    for (const other of METHODS) {
      if (other !== method && (await signedFor(other))) {
        return refuse('presign_wrong_method', `this URL was signed for ${other}, not ${method}`, key);
      }
    }
    return refuse(
      'presign_signature_mismatch',
      'the signature does not match this host, key, expiry and parameters (tampered, re-keyed or signed by someone else)',
      key,
    );
  };
}

/**
 * `20261125T004000Z` → Date. By hand because `new Date('20261125T004000Z')`
 * is Invalid Date in V8; the round-trip check refuses 20261340T…-style dates
 * that Date.UTC would silently roll over.
 */
export function parseAmzDate(text: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  const back = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return back === text ? date : null;
}

/**
 * Splits `a=1&b=2` and percent-decodes names and values once. Not
 * URLSearchParams: it form-decodes `+` into a space, and minio encodes a
 * space as %20, so a signed `+` would stop matching. null on bad encoding or
 * a repeated parameter (minio never signs one; S3 refuses them too).
 */
function parseQuery(raw: string): Map<string, string> | null {
  const out = new Map<string, string>();
  if (raw === '') return out;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
      value = eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1));
    } catch {
      return null;
    }
    if (out.has(name)) return null;
    out.set(name, value);
  }
  return out;
}
