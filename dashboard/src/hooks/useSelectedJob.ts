/**
 * The selected job lives in the URL hash (`#job=<id>`), so a selection
 * survives a reload and can be shared as a link without a router.
 */
import { useCallback, useSyncExternalStore } from 'react';

const PREFIX = '#job=';

export function jobHref(id: string): string {
  return `${PREFIX}${encodeURIComponent(id)}`;
}

function readSelected(): string | null {
  const hash = window.location.hash;
  if (!hash.startsWith(PREFIX)) return null;
  try {
    const id = decodeURIComponent(hash.slice(PREFIX.length));
    return id === '' ? null : id;
  } catch {
    return null;
  }
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

export function useSelectedJob(): [string | null, (id: string | null) => void] {
  const selected = useSyncExternalStore(subscribe, readSelected, () => null);
  const select = useCallback((id: string | null) => {
    window.location.hash = id === null ? '' : jobHref(id);
  }, []);
  return [selected, select];
}
