/**
 * Who a worker is, as the coordinator issued it: a worker id and a
 * credential (presented in every hello, shown nowhere). The session only
 * needs these three calls; the page keeps them in sessionStorage
 * (worker-id.ts), the native worker in memory for the life of its process
 * (memoryIdentity): a restarted native worker is a new worker, as a new tab is.
 */
export interface StoredIdentity {
  readonly workerId: string;
  readonly credential: string;
}

export interface WorkerIdentity {
  /** What to present in hello; null before the coordinator issued one. */
  credential(): string | null;
  /** The id the coordinator knows this worker by; null until the first welcome. */
  workerId(): string | null;
  /** Keeps what a welcome carried (the same identity, or a fresh one when the old credential did not verify). */
  remember(issued: StoredIdentity): void;
}

/** An identity held in memory only: none until the first welcome, then whatever the last welcome issued. */
export function memoryIdentity(): WorkerIdentity {
  let current: StoredIdentity | null = null;
  return {
    credential: () => current?.credential ?? null,
    workerId: () => current?.workerId ?? null,
    remember(issued) {
      current = { workerId: issued.workerId, credential: issued.credential };
    },
  };
}
