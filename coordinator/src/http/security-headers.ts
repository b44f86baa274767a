/**
 * Security headers on every response: the API, the playlists, both web apps,
 * the storage gateway, errors included. hono/secure-headers sets the fixed
 * ones; the Content-Security-Policy depends on what is served:
 *
 *   - the dashboard (everything the coordinator serves at / that is not below):
 *     its own scripts and styles only; media, images and XHR from itself and
 *     from S3_PUBLIC_ENDPOINT (presigned outputs, posters, thumbnails, HLS
 *     segments); blob: media and workers for hls.js (MediaSource URLs, its
 *     transmux worker);
 *   - the contributor page (/contribute/, its assets and worker scripts too:
 *     a worker runs under the policy its own script was served with):
 *     'wasm-unsafe-eval' to compile ffmpeg.wasm, workers from itself and
 *     blob: (the multi-thread core's pthreads), fetches and the WebSocket to
 *     itself and storage;
 *   - everything else (the API, SSE, playlists, /healthz): nothing may load
 *     or run at all. The storage gateway sets its own sandboxing policy, which
 *     this keeps (`overwrite: false`), as it keeps the contributor page's
 *     COOP/COEP.
 *
 * Everywhere: no framing (frame-ancestors 'none', X-Frame-Options DENY),
 * no <object>, no <base>, no sniffing, and no Referer, because pages and
 * playlists carry presigned URLs a Referer would hand to whoever they link to.
 */
import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { Config } from '../config.js';

const EVERYWHERE = ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"];

/** The three policies, given the origins presigned storage URLs point at (none beyond 'self' with the embedded storage). */
export function contentSecurityPolicies(storageOrigins: readonly string[]) {
  const storage = storageOrigins.join(' ');
  const withStorage = (...sources: string[]) => [...sources, ...(storage ? [storage] : [])].join(' ');
  return {
    dashboard: [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      `img-src ${withStorage("'self'", 'data:', 'blob:')}`,
      `media-src ${withStorage("'self'", 'blob:')}`,
      `connect-src ${withStorage("'self'")}`,
      "worker-src 'self' blob:",
      "form-action 'self'",
      "frame-src 'none'",
      ...EVERYWHERE,
    ].join('; '),
    contributor: [
      "default-src 'self'",
      "script-src 'self' 'wasm-unsafe-eval'",
      "worker-src 'self' blob:",
      "style-src 'self'",
      "img-src 'self' data:",
      // 'self' covers the page's own WebSocket (ws:/wss: on the same host, CSP level 3).
      `connect-src ${withStorage("'self'")}`,
      "media-src 'none'",
      "form-action 'none'",
      "frame-src 'none'",
      ...EVERYWHERE,
    ].join('; '),
    none: ["default-src 'none'", "form-action 'none'", ...EVERYWHERE].join('; '),
  };
}

export type PolicyKind = keyof ReturnType<typeof contentSecurityPolicies>;

/** Which policy a path is served with. */
export function policyKindFor(path: string): PolicyKind {
  if (path === '/contribute' || path.startsWith('/contribute/')) return 'contributor';
  if (path === '/api' || path.startsWith('/api/') || path === '/healthz' || path.startsWith('/healthz/')) return 'none';
  return 'dashboard';
}

export function securityHeaders(config: Pick<Config, 'publicUrl' | 's3'>): MiddlewareHandler {
  const https = config.publicUrl?.startsWith('https:') ?? false;
  const policies = contentSecurityPolicies(config.s3 ? [config.s3.publicEndpoint.origin] : []);
  const fixed = secureHeaders({
    // A header a route set itself (the gateway's sandbox policy, /contribute/'s COOP and COEP) wins.
    overwrite: false,
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
    // Only over https: a browser ignores it on http, and it would pin a name that may later serve http.
    strictTransportSecurity: https ? 'max-age=15552000' : false,
  });
  return async (c, next) =>
    fixed(c, async () => {
      await next();
      if (!c.res.headers.has('Content-Security-Policy')) {
        c.res.headers.set('Content-Security-Policy', policies[policyKindFor(c.req.path)]);
      }
    });
}
