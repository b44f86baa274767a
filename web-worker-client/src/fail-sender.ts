/**
 * Sends a lease's `fail` and, when the coordinator answers it with
 * `unavailable` (its database is down), sends it again a few times with the
 * complete backoff; after that the lease simply expires. Knows nothing of
 * batches: the task runner hands it each rung's `fail`.
 */
import type { ErrorMessage, FailMessage } from '@tabgrid/shared';
import type { LogFn, OutgoingMessage } from './connection.js';
import { completeRetryDelay } from './task-model.js';

/** Sending `fail` again after `unavailable`: a few tries. */
const FAIL_TRIES = 5;
/** Fails awaiting an answer that are remembered (older ones are forgotten; their leases expire if need be). */
const PENDING_MAX = 16;

export class FailSender {
  readonly #pending = new Map<string, { msg: Omit<FailMessage, 'id'>; tries: number }>();

  constructor(
    private readonly deps: {
      readonly send: (msg: OutgoingMessage, opts?: { queue?: boolean }) => string | null;
      readonly heartbeatIntervalMs: () => number;
      readonly random?: () => number;
      readonly log: LogFn;
    },
  ) {}

  send(msg: Omit<FailMessage, 'id'>, tries = 0): void {
    const id = this.deps.send(msg, { queue: true });
    if (!id) return;
    this.#pending.set(id, { msg, tries });
    if (this.#pending.size > PENDING_MAX) this.#pending.delete(this.#pending.keys().next().value!);
  }

  /** Takes an error that answers one of our fails (true), sending it again later when the coordinator could not record it. */
  handleError(msg: ErrorMessage): boolean {
    const pending = msg.replyTo === undefined ? undefined : this.#pending.get(msg.replyTo);
    if (!pending) return false;
    this.#pending.delete(msg.replyTo!);
    if (msg.code === 'unavailable' && pending.tries < FAIL_TRIES) {
      const delay = completeRetryDelay(pending.tries, this.deps.heartbeatIntervalMs(), this.deps.random);
      this.deps.log(
        'warn',
        `the coordinator could not record the failure of lease ${pending.msg.leaseId} now; again in ${Math.round(delay / 1000)} s`,
      );
      setTimeout(() => this.send(pending.msg, pending.tries + 1), delay);
    }
    return true;
  }
}
