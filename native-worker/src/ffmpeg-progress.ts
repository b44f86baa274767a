/**
 * Reading a native ffmpeg run's `-progress pipe:1` report on stdout:
 * key=value lines, one block every ~0.5 s ending in `progress=continue`, the
 * last in `progress=end`. Pure: lines in, blocks out.
 */

export interface ProgressBlock {
  /** Frames out so far (ffmpeg counts its first output's video stream; with `split` every rung gets each frame together). */
  readonly frame: number;
  /** Microseconds of output written, when ffmpeg knows (N/A early on). */
  readonly outTimeUs?: number;
  /** Encoding speed as a multiple of realtime ("1.98x"), when known. */
  readonly speed?: number;
  /** The run's last report. */
  readonly end: boolean;
}

/** Collects `-progress` lines into blocks; push() returns a block when one is complete. */
export class ProgressParser {
  #fields = new Map<string, string>();

  push(line: string): ProgressBlock | null {
    const eq = line.indexOf('=');
    if (eq <= 0) return null;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key !== 'progress') {
      // A hostile or broken stream could send endless distinct keys: a block knows a few dozen.
      if (this.#fields.size < 64 || this.#fields.has(key)) this.#fields.set(key, value);
      return null;
    }
    const f = this.#fields;
    this.#fields = new Map();
    const frame = wholeNumber(f.get('frame'));
    const outTimeUs = wholeNumber(f.get('out_time_us'));
    const speed = Number.parseFloat(f.get('speed') ?? '');
    return {
      frame: frame ?? 0,
      ...(outTimeUs === undefined ? {} : { outTimeUs }),
      ...(Number.isFinite(speed) && speed > 0 ? { speed } : {}),
      end: value === 'end',
    };
  }
}

function wholeNumber(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,15}$/.test(s)) return undefined;
  return Number(s);
}
