/**
 * Whether this browser may use the dashboard: on a coordinator with
 * ADMIN_TOKEN it must log in once (the token is exchanged for an HttpOnly
 * session cookie, which EventSource, <video> and hls.js then send by
 * themselves); without one everything is open.
 *
 * The page never holds the token after the login, nor the cookie (HttpOnly).
 * It remembers in localStorage only what it learnt ("open", or "a session was
 * started here"), so a reload goes straight to its data instead of asking
 * first; any 401 (the session expired, was ended elsewhere, or the token
 * changed) brings the login back.
 */
import { ApiRequestError } from '@tabgrid/shared';
import { useSyncExternalStore } from 'react';
import { api } from './api';

export type AuthState =
  /** Nothing known yet: asking the coordinator. */
  | { readonly phase: 'checking' }
  /** A token is needed; `reason` says why the person is asked again, if they were in before. */
  | { readonly phase: 'login'; readonly reason: string | null }
  /** In: `required` when that took a login (a log-out control makes sense). */
  | { readonly phase: 'in'; readonly required: boolean };

const KEY = 'tabgrid.auth';

function remembered(): string | null {
  try {
    return window.localStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: ask every time
  }
}

function remember(value: 'open' | 'session' | null): void {
  try {
    if (value === null) window.localStorage.removeItem(KEY);
    else window.localStorage.setItem(KEY, value);
  } catch {
    // storage disabled: nothing to keep
  }
}

function initial(): AuthState {
  const known = remembered();
  if (known === 'open') return { phase: 'in', required: false };
  if (known === 'session') return { phase: 'in', required: true };
  return { phase: 'checking' };
}

let state: AuthState = initial();
const listeners = new Set<() => void>();

function set(next: AuthState): void {
  state = next;
  for (const l of listeners) l();
}

export function useAuth(): AuthState {
  return useSyncExternalStore(
    (onChange) => {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    () => state,
  );
}

/**
 * Asks the coordinator whether a login is needed and whether this browser has
 * one. Called on the first visit, and whenever the live stream is refused.
 * When the coordinator cannot be reached, nothing changes: the stream's own
 * retries go on.
 */
export async function checkSession(): Promise<void> {
  let status: Awaited<ReturnType<typeof api.session>>;
  try {
    status = await api.session();
  } catch {
    if (state.phase === 'checking') set({ phase: 'in', required: false });
    return;
  }
  if (!status.required) {
    remember('open');
    if (!(state.phase === 'in' && !state.required)) set({ phase: 'in', required: false });
  } else if (status.authenticated) {
    remember('session');
    if (!(state.phase === 'in' && state.required)) set({ phase: 'in', required: true });
  } else {
    sessionEnded(state.phase === 'in' && state.required ? 'Your session has ended (it expired, or was logged out elsewhere).' : null);
  }
}

/** Logs in with the operator token; rejects with the API's error (401 wrong token, 429 too many). */
export async function logIn(token: string): Promise<void> {
  await api.login(token);
  remember('session');
  set({ phase: 'in', required: true });
}

export async function logOut(): Promise<void> {
  await api.logout().catch(() => undefined); // the cookie may be gone already; the page logs out either way
  sessionEnded(null);
}

export function sessionEnded(reason: string | null): void {
  remember(null);
  if (state.phase !== 'login') set({ phase: 'login', reason });
}

/** For a failed call: when it was refused for want of a login, show the login and say so. */
export function noteUnauthorized(e: unknown): boolean {
  if (!(e instanceof ApiRequestError) || e.status !== 401) return false;
  sessionEnded('Your session has ended (it expired, or was logged out elsewhere).');
  return true;
}
