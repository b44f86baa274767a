/**
 * Wake-ups between the parts of a coordinator, and between coordinators
 * sharing one database. Something that changes state publishes what changed;
 * whoever waits for such a change (the dispatcher, the pipeline runner, the
 * dashboards' event streams, the WebSocket gateway) subscribes.
 *
 * A notification is a latency hint, never the only way to learn something:
 * every subscriber also polls slowly, so a notification lost with a dropped
 * database connection, or sent by a coordinator that then died, only delays
 * the work it announced. After the link to other coordinators was down,
 * subscribers get a `resync` (anything may have changed meanwhile).
 *
 * Two implementations: in-process (the embedded PGlite, which only one
 * process can open) and PostgreSQL LISTEN/NOTIFY (pg-notifier.ts).
 */

export type WakeEvent =
  /** Tasks may be leasable now (created, requeued, a backoff passed, a job retried). */
  | { readonly kind: 'work' }
  /** A job or any of its tasks changed (state, progress, outputs). */
  | { readonly kind: 'job'; readonly jobId: string }
  /** A lease's progress moved (a heartbeat): only what dashboards show changed. */
  | { readonly kind: 'progress' }
  /** A volunteer connected, left, or was quarantined. */
  | { readonly kind: 'workers' }
  /** The tabs holding these leases must stop (job canceled, lease expired). */
  | { readonly kind: 'revoke'; readonly leaseIds: readonly string[]; readonly reason: string }
  /** Notifications may have been missed: treat everything as changed. */
  | { readonly kind: 'resync' };

export type WakeKind = WakeEvent['kind'];
export type WakeHandler = (event: WakeEvent) => void;

export interface Notifier {
  /** Delivers `event` to this process's subscribers now and, where there are others, to other coordinators. Never throws. */
  publish(event: WakeEvent): void;
  /** Calls `handler` for every event of these kinds (and for `resync`); returns the unsubscribe. */
  subscribe(kinds: readonly Exclude<WakeKind, 'resync'>[], handler: WakeHandler): () => void;
  close(): Promise<void>;
}

/** The in-process fan-out both implementations share. A handler that throws is logged by the caller's own code path, never here. */
export class LocalFanout {
  private readonly handlers = new Set<{ kinds: ReadonlySet<WakeKind>; handler: WakeHandler }>();

  subscribe(kinds: readonly WakeKind[], handler: WakeHandler): () => void {
    const entry = { kinds: new Set<WakeKind>([...kinds, 'resync']), handler };
    this.handlers.add(entry);
    return () => this.handlers.delete(entry);
  }

  deliver(event: WakeEvent): void {
    for (const { kinds, handler } of [...this.handlers]) {
      if (!kinds.has(event.kind)) continue;
      try {
        handler(event);
      } catch {
        // A subscriber's bug must not stop the others from waking; subscribers log their own errors.
      }
    }
  }
}

/** The notifier for a coordinator that is alone on its database (the embedded PGlite). */
export function createLocalNotifier(): Notifier {
  const fanout = new LocalFanout();
  return {
    publish: (event) => fanout.deliver(event),
    subscribe: (kinds, handler) => fanout.subscribe(kinds, handler),
    close: async () => undefined,
  };
}

/**
 * The wait of a loop that polls slowly and wakes early when told. Subscribed
 * for its whole life, so an event that arrives while the loop is busy is not
 * lost: the next `wait` returns at once. Events are not queued one by one;
 * any number of them before a `wait` wake it once (the loop then reads the
 * current state, which covers them all).
 */
export class Waker {
  private pending = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  constructor(notifier: Notifier, kinds: readonly Exclude<WakeKind, 'resync'>[], filter: (e: WakeEvent) => boolean = () => true) {
    this.unsubscribe = notifier.subscribe(kinds, (e) => {
      if (e.kind === 'resync' || filter(e)) this.poke();
    });
  }

  /** Wakes the loop as if an event had arrived (work found by this process, a backoff that ended). */
  poke(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Resolves true when woken, false after `timeoutMs` or when `signal` aborts. */
  async wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.pending && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
    const woken = this.pending;
    this.pending = false;
    return woken;
  }

  close(): void {
    this.unsubscribe();
    this.wake?.();
  }
}
