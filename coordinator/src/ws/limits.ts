/**
 * What one address or one connection may cost the coordinator: connections
 * open per address, new connections per address over time, messages per
 * connection over time, and hello work in flight. Everything here is in
 * memory and per coordinator process; several coordinators behind one
 * balancer each apply their own limits.
 */

/**
 * A token bucket: `capacity` tokens, refilled at `perSecond`. take() spends
 * one and says whether there was one. `now` is injectable for tests.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.last = now();
  }

  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Back to its capacity: nothing spent lately. */
  get full(): boolean {
    this.refill();
    return this.tokens >= this.capacity;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }
}

export interface AddressLimitOptions {
  /** Sockets one address may hold open at once. */
  readonly maxOpen: number;
  /** New sockets one address may open per minute, after a burst of `maxOpen`. */
  readonly perMinute: number;
  readonly now?: () => number;
}

export type Admission = { readonly ok: true; readonly release: () => void } | { readonly ok: false; readonly reason: string };

/**
 * Admission of new sockets per address. A refused socket costs a map lookup;
 * an admitted one holds a slot until `release()` (idempotent), which the
 * caller ties to the socket's close. Addresses with nothing open and a full
 * bucket are forgotten by sweep(), so the map stays as small as the set of
 * recently active addresses.
 */
export class AddressLimits {
  private readonly byAddress = new Map<string, { open: number; bucket: TokenBucket }>();

  constructor(private readonly opts: AddressLimitOptions) {}

  admit(address: string): Admission {
    let entry = this.byAddress.get(address);
    if (!entry) {
      entry = { open: 0, bucket: new TokenBucket(this.opts.maxOpen, this.opts.perMinute / 60, this.opts.now) };
      this.byAddress.set(address, entry);
    }
    if (entry.open >= this.opts.maxOpen) {
      return { ok: false, reason: `too many connections from this address (at most ${this.opts.maxOpen} at once); try again later` };
    }
    if (!entry.bucket.take()) {
      return { ok: false, reason: `connecting too often from this address (at most ${this.opts.perMinute} per minute); try again later` };
    }
    entry.open += 1;
    const held = entry;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        held.open -= 1;
      },
    };
  }

  openFrom(address: string): number {
    return this.byAddress.get(address)?.open ?? 0;
  }

  get size(): number {
    return this.byAddress.size;
  }

  sweep(): void {
    for (const [address, entry] of this.byAddress) if (entry.open === 0 && entry.bucket.full) this.byAddress.delete(address);
  }
}

/**
 * At most `concurrency` tasks at once, the rest waiting in arrival order, at
 * most `maxPending` of them: hellos touch the database, and a flood of them
 * must leave room for everything else (on PGlite every query waits for the
 * one before it). run() resolves to the task's result, or to `{ refused }`
 * at once when the queue is full.
 *
 * Every task starts on a later turn of the event loop (setImmediate), at most
 * `concurrency` per turn. PGlite runs a query synchronously and resolves it
 * in a microtask, so a hello started from its socket's callback finished in
 * that callback, freeing its slot for the next socket's: 300 hellos arriving
 * together ran back to back in one poll phase and stalled everything else
 * (timers, /healthz) for 0.85–2.7 s on 2 shared cores. A turn at a time,
 * /healthz answers between them.
 */
export class BoundedQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxPending: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxPending) return { ok: false };
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    try {
      return { ok: true, value: await task() };
    } finally {
      // Hand the slot to the next in line (on the next turn), or give it back.
      const next = this.waiting.shift();
      if (next) setImmediate(next);
      else this.running -= 1;
    }
  }

  get pending(): number {
    return this.waiting.length;
  }
}
