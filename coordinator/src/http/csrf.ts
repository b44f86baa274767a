/**
 * No state change from another site. A browser lets any page send a
 * "simple" request (a form post: text/plain, multipart/form-data or
 * urlencoded, no custom header) to any origin, with this origin's cookies
 * when the two are same-site (another port on the same host is), and only
 * hides the answer. So every POST/PUT/PATCH/DELETE under /api must be one a
 * page can only send to its own origin, and must not come from a foreign one:
 *
 *   - it is non-simple: it has `X-Tabgrid-Request: 1` (what the shared client
 *     sends), or a JSON body, or an Authorization header. Any of these makes a
 *     cross-origin browser ask first (CORS preflight), which this coordinator
 *     never grants;
 *   - its Origin, when it has one (browsers send it on every such request),
 *     is one the Host allow-list holds, and never `null` (sandboxed frames,
 *     file: pages); and Sec-Fetch-Site, when sent, is not `cross-site`.
 *
 * hono/csrf (4.13) judges form-like bodies by Origin and Sec-Fetch-Site
 * alone: it refuses such a body without an Origin, which is the CLI's
 * multipart upload (Node's fetch sends none), compares the Origin with the
 * request's own URL (behind a proxy that is the upstream address, not
 * PUBLIC_URL), and never asks for a non-simple request. So this is that rule
 * and the Origin check against the Host allow-list, in one place.
 */
import type { MiddlewareHandler } from 'hono';
import { ForbiddenError } from '../errors.js';
import { type HostAllowList, localPortOf } from './host-allow-list.js';

/** The header the shared API client sends with every state change. */
export const CSRF_HEADER = 'X-Tabgrid-Request';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function isJson(contentType: string | undefined): boolean {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return media === 'application/json';
}

export function csrfGuard(hosts: HostAllowList): MiddlewareHandler {
  return async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      let host: string | undefined;
      try {
        const url = new URL(origin);
        // With its port spelled out: http://grid.example is not https://grid.example.
        if (url.protocol === 'http:' || url.protocol === 'https:')
          host = `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
      } catch {
        // `null` and other opaque origins
      }
      if (host === undefined || !hosts.allows(host, localPortOf(c.env))) {
        throw new ForbiddenError(`a ${c.req.method} from another site (Origin ${origin.slice(0, 100)}) is refused: use ${hosts.expected}`);
      }
    }
    if (c.req.header('sec-fetch-site') === 'cross-site') {
      throw new ForbiddenError(`a cross-site ${c.req.method} is refused: use ${hosts.expected}`);
    }
    const nonSimple =
      c.req.header(CSRF_HEADER) === '1' || isJson(c.req.header('content-type')) || c.req.header('authorization') !== undefined;
    if (!nonSimple) {
      throw new ForbiddenError(
        `${c.req.method} ${c.req.path} changes state, so it must not be a plain form post: send the header ${CSRF_HEADER}: 1 ` +
          '(the tabgrid client does), or a JSON body',
      );
    }
    return next();
  };
}
