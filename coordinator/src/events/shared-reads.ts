/**
 * Coalesces identical reads across SSE clients of one coordinator. With N
 * dashboards open on the same topic, a round costs one marker query instead
 * of N, and a change one snapshot instead of N. That matters most on PGlite,
 * which runs one query at a time and also serves every lease operation.
 *
 * A shared result is at most `maxAgeMs` old when handed out, or still in
 * flight. That keeps the watch loop correct: a marker may be slightly old,
 * but its snapshot is always loaded after it, so any later change still
 * shows as a different marker on a later round. Failures are not kept.
 */
export class SharedReads {
  private readonly entries = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** `freshAfter`: only share a read that started at or after this time (a change announced then must show). */
  read<T>(key: string, load: () => Promise<T>, freshAfter?: number): Promise<T> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.maxAgeMs && (freshAfter === undefined || hit.at >= freshAfter)) return hit.value as Promise<T>;
    this.prune(now);
    const value = load();
    this.entries.set(key, { at: now, value });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Entries of topics nobody watches any more (a closed job page) would otherwise stay forever. */
  private prune(now: number): void {
    for (const [key, entry] of this.entries) if (now - entry.at >= this.maxAgeMs) this.entries.delete(key);
  }
}
