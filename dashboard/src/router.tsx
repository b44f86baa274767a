/**
 * Pages on real paths (`/`, `/jobs/:id`, `/workers`, and `/share/:capability`
 * for a share link), so each can be bookmarked, shared and reloaded: the
 * coordinator serves index.html for any path that is not a file. No router
 * library: the History API and one link component are all they need.
 */
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export type Route =
  | { readonly page: 'jobs' }
  | { readonly page: 'job'; readonly id: string }
  | { readonly page: 'workers' }
  | { readonly page: 'share'; readonly capability: string }
  | { readonly page: 'missing'; readonly path: string };

export const paths = {
  jobs: () => '/',
  job: (id: string) => `/jobs/${encodeURIComponent(id)}`,
  workers: () => '/workers',
  share: (capability: string) => `/share/${encodeURIComponent(capability)}`,
};

export function parseRoute(pathname: string, hash: string): Route {
  // Links from the first dashboard version (`/#job=<id>`) still open the job.
  const legacy = /^#job=(.+)$/.exec(hash);
  if (legacy) return { page: 'job', id: safeDecode(legacy[1]!) };
  if (pathname === '/' || pathname === '/index.html') return { page: 'jobs' };
  if (pathname === '/workers' || pathname === '/workers/') return { page: 'workers' };
  const job = /^\/jobs\/([^/]+)\/?$/.exec(pathname);
  if (job) return { page: 'job', id: safeDecode(job[1]!) };
  const share = /^\/share\/([^/]+)\/?$/.exec(pathname);
  if (share) return { page: 'share', capability: safeDecode(share[1]!) };
  return { page: 'missing', path: pathname };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const listeners = new Set<() => void>();
let current = `${window.location.pathname}${window.location.hash}`;

function refresh(): void {
  const next = `${window.location.pathname}${window.location.hash}`;
  if (next === current) return;
  // Back and forward are navigations too.
  focusRequested = true;
  current = next;
  for (const l of listeners) l();
}

function subscribe(onChange: () => void): () => void {
  listeners.add(onChange);
  window.addEventListener('popstate', refresh);
  window.addEventListener('hashchange', refresh);
  return () => {
    listeners.delete(onChange);
    window.removeEventListener('popstate', refresh);
    window.removeEventListener('hashchange', refresh);
  };
}

let focusRequested = false;

/** True once after each navigation: the new page's heading should take focus (see PageHeading). */
export function takeFocusRequest(): boolean {
  const requested = focusRequested;
  focusRequested = false;
  return requested;
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  focusRequested = true;
  refresh();
  // A new page starts at its top, as a full page load would.
  if (!opts.replace) window.scrollTo(0, 0);
}

export function useRoute(): Route {
  const location = useSyncExternalStore(subscribe, () => current);
  const hashAt = location.indexOf('#');
  return parseRoute(hashAt < 0 ? location : location.slice(0, hashAt), hashAt < 0 ? '' : location.slice(hashAt));
}

/** An ordinary link that changes page without a reload; modified clicks (new tab, …) stay the browser's. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const click = (e: MouseEvent<HTMLAnchorElement>): void => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={click} {...rest} />;
}
