/**
 * What the native worker may fetch: the coordinator's own origin and the
 * origins its storage's presigned URLs point at, and nothing else, as a tab
 * may not (its page's Content-Security-Policy, `connect-src`, allows only
 * those). A volunteer's browser enforces that policy for the tab; here
 * guardedFetch does, so an assignment whose URLs point elsewhere (another
 * host, a cloud metadata address, file:, credentials in the URL, a
 * redirect off the origin) makes the worker fetch nothing.
 *
 * The allowed origins are read from the very policy the coordinator serves
 * with its contributor page (`GET /contribute/`): `'self'` is the
 * coordinator, any other exact origin in `connect-src` is its storage
 * (S3_PUBLIC_ENDPOINT). Wildcards and bare schemes are ignored rather than
 * widened. Without a readable policy only the coordinator's origin is
 * allowed, which is where the embedded storage's URLs point.
 */
import { TaskFailure } from '@tabgrid/web-worker-client/runtime';

/** Thrown by guardedFetch for a URL it will not fetch; a TaskFailure, so the task fails at once (no retry). */
export class RefusedUrlError extends TaskFailure {}

/** Exact origins from a CSP's connect-src (`'self'` is the coordinator's); other source kinds are ignored. */
export function connectSrcOrigins(csp: string, coordinator: URL): Set<string> {
  const origins = new Set<string>();
  for (const directive of csp.split(';')) {
    const [name, ...sources] = directive.trim().split(/\s+/);
    if (name?.toLowerCase() !== 'connect-src') continue;
    for (const source of sources) {
      if (source === "'self'") origins.add(coordinator.origin);
      else if (/^https?:\/\/[^*/]+\/?$/i.test(source)) {
        const origin = URL.canParse(source) ? new URL(source).origin : null;
        if (origin && origin !== 'null') origins.add(origin);
      }
    }
    break; // the first connect-src is the one a browser obeys
  }
  return origins;
}

/**
 * The origins this worker may fetch from: the coordinator's, plus its
 * storage's from the contributor page's policy. Throws when the
 * coordinator does not answer at all (the caller retries with backoff).
 */
export async function allowedOrigins(coordinator: URL, fetchImpl: typeof fetch = fetch): Promise<Set<string>> {
  const res = await fetchImpl(new URL('/contribute/', coordinator), { redirect: 'error', signal: AbortSignal.timeout(15_000) });
  await res.body?.cancel();
  const csp = res.headers.get('content-security-policy');
  const origins = csp ? connectSrcOrigins(csp, coordinator) : new Set<string>();
  origins.add(coordinator.origin);
  return origins;
}

/** The URL as it may be logged: no query (presigned URLs carry their signature there), no credentials. */
export function redactUrl(raw: string): string {
  if (!URL.canParse(raw)) return JSON.stringify(raw.slice(0, 100));
  const u = new URL(raw);
  return `${u.protocol}//${u.host}${u.pathname}`.slice(0, 200);
}

/** Why `raw` may not be fetched, or null when it may. */
export function refusal(raw: string, origins: ReadonlySet<string>): string | null {
  if (!URL.canParse(raw)) return 'not a URL';
  const u = new URL(raw);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `${u.protocol} is not http(s)`;
  if (u.username || u.password) return 'it carries credentials';
  if (!origins.has(u.origin)) return `${u.origin} is neither the coordinator nor its storage (${[...origins].join(', ')})`;
  return null;
}

/**
 * `fetchImpl` restricted to `origins`: any other URL is refused before a
 * connection is opened (RefusedUrlError), and so is any redirect, since a
 * presigned storage URL never redirects and a redirect could lead off the
 * origin (the refusal is a TaskFailure: no retry changes it). `manual`,
 * because Node's fetch then hands over the 3xx answer itself, whereas
 * `error` rejects like a network error, which the runner would retry
 * (docs/facts.md, "The native worker").
 */
export function guardedFetch(origins: ReadonlySet<string>, fetchImpl: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET');
    const why = refusal(raw, origins);
    if (why !== null) throw new RefusedUrlError(`refused to ${method} ${redactUrl(raw)}: ${why}`);
    const res = await fetchImpl(input, { ...init, redirect: 'manual' });
    if (res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400)) {
      await res.body?.cancel();
      const to = res.headers.get('location');
      throw new RefusedUrlError(`refused to follow ${method} ${redactUrl(raw)} to ${to ? redactUrl(new URL(to, raw).href) : 'a redirect'}`);
    }
    return res;
  };
}
