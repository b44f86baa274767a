/**
 * The embedded storage's public face. Browsers get presigned URLs pointing at
 * the coordinator itself (`http://HOST:PORT/storage/<key>?X-Amz-…`); this
 * sub-app checks each signature and streams the request to s3rver on
 * 127.0.0.1, which checks none.
 *
 * Mount it where the bucket's path-style URLs land, i.e. at `/${bucket}`:
 *   app.route('/storage', createStorageGateway({ bucket: 'storage', … }))
 * After app.route() the sub-app's handlers see the full path (`/storage/…`),
 * which is also exactly what was signed, so nothing is stripped.
 */
import { Hono, type Context } from 'hono';
import type { Logger } from '../logger.js';
import { createPresignVerifier } from './presign-verifier.js';

export interface StorageGatewayOptions {
  readonly bucket: string;
  /** s3rver's address, e.g. http://127.0.0.1:39361 */
  readonly upstream: URL;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  readonly logger: Logger;
  /** Largest PUT body accepted; default 1 GiB. */
  readonly maxBodyBytes?: number;
}

const REQUEST_HEADERS = ['range', 'content-type', 'content-length', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'];
const RESPONSE_HEADERS = ['etag', 'content-length', 'content-range', 'accept-ranges', 'content-type', 'last-modified', 'content-disposition', 'cache-control'];

export function createStorageGateway(opts: StorageGatewayOptions): Hono {
  const log = opts.logger.child({ component: 'storage-gateway' });
  const maxBodyBytes = opts.maxBodyBytes ?? 1024 ** 3;
  const verify = createPresignVerifier(opts);
  const upstreamOrigin = opts.upstream.origin;
  const app = new Hono();

  // The signature is the authorization, so any origin may use a valid URL;
  // refusals carry these headers too, so a page can read why it was refused.
  app.use('*', async (c, next) => {
    await next();
    const origin = c.req.header('origin');
    c.res.headers.set('Access-Control-Allow-Origin', origin ?? '*');
    if (origin) c.res.headers.append('Vary', 'Origin');
    c.res.headers.set('Access-Control-Expose-Headers', 'ETag, Content-Length, Content-Range, Accept-Ranges');
    // Pages under COEP require-corp (ffmpeg core-mt, FIELD-NOTES) also load
    // media in no-cors mode (<video src>), which needs CORP rather than CORS.
    c.res.headers.set('Cross-Origin-Resource-Policy', 'cross-origin');
  });

  app.options('*', (c) => {
    c.header('Access-Control-Allow-Methods', 'GET, HEAD, PUT');
    c.header('Access-Control-Allow-Headers', 'Content-Type, Range');
    c.header('Access-Control-Max-Age', '600');
    return c.body(null, 204);
  });

  const refuse = (c: Context, status: 403 | 411 | 413 | 502, code: string, message: string, extra: object = {}) => {
    // Only names and reasons: the query (signature, credential) is never logged.
    log.info({ status, code, method: c.req.method, path: pathOf(c.req.url), origin: c.req.header('origin'), ...extra, reason: message }, 'storage request refused');
    return c.json({ error: { code, message } }, status);
  };

  app.on(['GET', 'HEAD', 'PUT'], '*', async (c) => {
    const { path, query } = splitUrl(c.req.url);
    const verdict = await verify({ method: c.req.method, host: c.req.header('host') ?? new URL(c.req.url).host, rawPath: path, rawQuery: query });
    if (!verdict.ok) return refuse(c, 403, verdict.code, verdict.message, { key: verdict.key });

    const headers = new Headers();
    for (const name of REQUEST_HEADERS) {
      const value = c.req.header(name);
      if (value !== undefined) headers.set(name, value);
    }
    const isPut = c.req.method === 'PUT';
    if (isPut) {
      // Browsers send Content-Length for every Blob/ArrayBuffer body, and S3
      // itself refuses a PUT without one (411 MissingContentLength). Node's
      // HTTP parser then ends the body at that length, so checking the header
      // bounds the bytes that can reach s3rver.
      const length = Number(c.req.header('content-length') ?? NaN);
      if (!Number.isSafeInteger(length) || length < 0) return refuse(c, 411, 'length_required', 'PUT needs a Content-Length', { key: verdict.key });
      if (length > maxBodyBytes) return refuse(c, 413, 'too_large', `body of ${length} bytes exceeds the ${maxBodyBytes}-byte limit`, { key: verdict.key });
    }

    let upstream: Response;
    try {
      // The verified query goes along verbatim: s3rver applies response-*
      // overrides only to signed requests, and re-checks key and expiry itself.
      upstream = await fetch(`${upstreamOrigin}${path}${query ? `?${query}` : ''}`, {
        method: c.req.method,
        headers,
        // Streamed both ways: 104 MiB RSS through a 100 MB PUT vs 267 MiB
        // buffered (FIELD-NOTES). duplex 'half' is what fetch needs for a stream body.
        body: isPut ? c.req.raw.body : undefined,
        duplex: 'half',
        redirect: 'manual',
        signal: c.req.raw.signal,
      } as RequestInit & { duplex: 'half' });
    } catch (err) {
      log.warn({ err, method: c.req.method, key: verdict.key }, 'storage upstream failed');
      return c.json({ error: { code: 'storage_unavailable', message: 'storage is unavailable' } }, 502);
    }

    const out = new Headers();
    for (const name of RESPONSE_HEADERS) {
      const value = upstream.headers.get(name);
      if (value !== null) out.set(name, value);
    }
    log.debug({ method: c.req.method, key: verdict.key, status: upstream.status }, 'storage request');
    // Response() throws if given a body with 204/304 (e.g. an If-None-Match hit).
    const noBody = c.req.method === 'HEAD' || upstream.status === 204 || upstream.status === 304;
    if (noBody) await upstream.body?.cancel();
    return new Response(noBody ? null : upstream.body, { status: upstream.status, headers: out });
  });

  app.all('*', (c) => {
    c.header('Allow', 'GET, HEAD, PUT, OPTIONS');
    return c.json({ error: { code: 'method_not_allowed', message: `${c.req.method} is not served by storage` } }, 405);
  });

  return app;
}

/** Path and query exactly as sent (no decoding), from an absolute URL string. */
function splitUrl(url: string): { path: string; query: string } {
  const afterScheme = url.indexOf('//');
  const pathStart = url.indexOf('/', afterScheme + 2);
  const rest = pathStart === -1 ? '/' : url.slice(pathStart);
  const hash = rest.indexOf('#');
  const noHash = hash === -1 ? rest : rest.slice(0, hash);
  const q = noHash.indexOf('?');
  return q === -1 ? { path: noHash, query: '' } : { path: noHash.slice(0, q), query: noHash.slice(q + 1) };
}

function pathOf(url: string): string {
  return splitUrl(url).path;
}
