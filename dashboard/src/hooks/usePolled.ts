/**
 * The dashboard's one refresh mechanism: fetch, wait, fetch again. Every
 * live view goes through useJobs/useJob, which sit on this, so replacing
 * polling with pushed updates later changes these hooks and nothing else.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { isAbortError } from '../api';

export const POLL_INTERVAL_MS = 2000;

export interface Polled<T> {
  /** The latest successful result for the current key; kept through later errors. */
  readonly data: T | null;
  /** The latest failure, cleared by the next success. */
  readonly error: unknown;
  /** Fetch now rather than at the next tick. */
  readonly refresh: () => void;
}

interface Options<T> {
  readonly intervalMs?: number;
  /** Stop polling once a result satisfies this (e.g. a job in a terminal state). */
  readonly stopWhen?: (data: T) => boolean;
}

/**
 * Polls `load` while `key` is non-null. The next request starts only after
 * the previous one settles, so a slow coordinator never piles up requests;
 * a hidden tab skips ticks and catches up as soon as it is shown again.
 */
export function usePolled<T>(key: string | null, load: (signal: AbortSignal) => Promise<T>, options: Options<T> = {}): Polled<T> {
  const { intervalMs = POLL_INTERVAL_MS } = options;
  const [state, setState] = useState<{ key: string | null; data: T | null; error: unknown }>({ key, data: null, error: null });
  const [nonce, setNonce] = useState(0);
  // The latest callbacks, read at fetch time so that inline lambdas do not restart the loop.
  const loadRef = useRef(load);
  const stopWhenRef = useRef(options.stopWhen);
  useEffect(() => {
    loadRef.current = load;
    stopWhenRef.current = options.stopWhen;
  });

  useEffect(() => {
    if (key === null) return;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let waitingForVisible = false;

    const schedule = (): void => {
      timer = setTimeout(() => {
        if (document.hidden) waitingForVisible = true;
        else void tick();
      }, intervalMs);
    };
    const onVisibility = (): void => {
      if (!document.hidden && waitingForVisible) {
        waitingForVisible = false;
        void tick();
      }
    };
    const tick = async (): Promise<void> => {
      try {
        const data = await loadRef.current(controller.signal);
        if (controller.signal.aborted) return;
        setState({ key, data, error: null });
        if (stopWhenRef.current?.(data)) return;
      } catch (error) {
        if (controller.signal.aborted || isAbortError(error)) return;
        setState((prev) => ({ key, data: prev.key === key ? prev.data : null, error }));
      }
      schedule();
    };

    document.addEventListener('visibilitychange', onVisibility);
    void tick();
    return () => {
      controller.abort();
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [key, intervalMs, nonce]);

  const refresh = useCallback(() => setNonce((n) => n + 1), []);
  const current = state.key === key;
  return { data: current ? state.data : null, error: current ? state.error : null, refresh };
}
