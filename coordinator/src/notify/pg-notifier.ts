/**
 * The Notifier over PostgreSQL LISTEN/NOTIFY, for coordinators that share one
 * database. Events reach this process's subscribers at once and other
 * coordinators through one channel; a coordinator ignores its own echo.
 *
 * Publishing is batched: events published within FLUSH_MS are deduplicated
 * (a thousand heartbeats of one job become one `job` event) and packed into
 * as few NOTIFY payloads as fit PostgreSQL's limit (8000 bytes), so the
 * cost to the database grows with the number of jobs that changed, not
 * with the number of tabs.
 *
 * postgres.js keeps the LISTEN connection up by itself and calls back on
 * every (re)connection; after a reconnection this process's subscribers get
 * a `resync`, since notifications sent meanwhile are lost.
 */
import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { LocalFanout, type Notifier, type WakeEvent } from './notifier.js';

export const NOTIFY_CHANNEL = 'tabgrid_wake';
const FLUSH_MS = 20;
/** PostgreSQL refuses payloads of 8000 bytes or more; leave room for the envelope. */
const MAX_PAYLOAD_BYTES = 7000;
const MAX_REVOKE_IDS_PER_EVENT = 100;

const wireEventSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('work') }),
  z.object({ kind: z.literal('job'), jobId: z.string().min(1).max(64) }),
  z.object({ kind: z.literal('progress') }),
  z.object({ kind: z.literal('workers') }),
  z.object({
    kind: z.literal('revoke'),
    leaseIds: z.array(z.string().min(1).max(64)).max(MAX_REVOKE_IDS_PER_EVENT),
    reason: z.string().max(500),
  }),
]);
const envelopeSchema = z.object({ o: z.string().max(64), e: z.array(wireEventSchema).max(1000) });

type WireEvent = Exclude<WakeEvent, { kind: 'resync' }>;

/** Splits oversized events and drops duplicates, keeping first-seen order. */
function normalise(events: readonly WireEvent[]): WireEvent[] {
  const seen = new Set<string>();
  const out: WireEvent[] = [];
  for (const e of events) {
    const parts: WireEvent[] =
      e.kind === 'revoke'
        ? Array.from({ length: Math.ceil(e.leaseIds.length / MAX_REVOKE_IDS_PER_EVENT) }, (_, i) => ({
            kind: 'revoke' as const,
            leaseIds: e.leaseIds.slice(i * MAX_REVOKE_IDS_PER_EVENT, (i + 1) * MAX_REVOKE_IDS_PER_EVENT),
            reason: e.reason.slice(0, 500),
          }))
        : [e];
    for (const p of parts) {
      const key = JSON.stringify(p);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(p);
    }
  }
  return out;
}

/** Packs events into envelopes of at most MAX_PAYLOAD_BYTES each. */
export function packPayloads(origin: string, events: readonly WireEvent[]): string[] {
  const payloads: string[] = [];
  let batch: WireEvent[] = [];
  const encode = (e: WireEvent[]) => JSON.stringify({ o: origin, e });
  for (const e of normalise(events)) {
    if (batch.length > 0 && Buffer.byteLength(encode([...batch, e])) > MAX_PAYLOAD_BYTES) {
      payloads.push(encode(batch));
      batch = [];
    }
    batch.push(e);
  }
  if (batch.length > 0) payloads.push(encode(batch));
  return payloads;
}

export async function createPgNotifier(client: postgres.Sql, logger: Logger): Promise<Notifier> {
  const log = logger.child({ component: 'notifier' });
  const origin = randomUUID();
  const fanout = new LocalFanout();
  let outbox: WireEvent[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let closed = false;
  let listenedBefore = false;

  const flush = () => {
    flushTimer = undefined;
    const events = outbox;
    outbox = [];
    flushing = flushing.then(async () => {
      for (const payload of packPayloads(origin, events)) {
        try {
          await client`select pg_notify(${NOTIFY_CHANNEL}, ${payload})`;
        } catch (err) {
          // Other coordinators learn it at their next poll instead.
          log.debug({ err: (err as Error).message }, 'could not notify other coordinators');
        }
      }
    });
  };

  const onPayload = (payload: string) => {
    let envelope: z.infer<typeof envelopeSchema>;
    try {
      envelope = envelopeSchema.parse(JSON.parse(payload));
    } catch (err) {
      log.warn({ err: (err as Error).message, bytes: payload.length }, `ignoring a malformed notification on ${NOTIFY_CHANNEL}`);
      return;
    }
    if (envelope.o === origin) return;
    for (const e of envelope.e) fanout.deliver(e);
  };

  const subscription = await client.listen(NOTIFY_CHANNEL, onPayload, () => {
    if (listenedBefore) {
      log.info('listening for other coordinators again; resynchronising');
      fanout.deliver({ kind: 'resync' });
    }
    listenedBefore = true;
  });

  return {
    publish(event) {
      fanout.deliver(event);
      if (event.kind === 'resync' || closed) return;
      outbox.push(event);
      flushTimer ??= setTimeout(flush, FLUSH_MS);
    },
    subscribe: (kinds, handler) => fanout.subscribe(kinds, handler),
    async close() {
      closed = true;
      if (flushTimer) {
        clearTimeout(flushTimer);
        flush();
      }
      await flushing;
      await subscription.unlisten().catch(() => undefined);
    },
  };
}
