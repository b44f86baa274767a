/** Reading ffmpeg's log stream: frame counts for progress, and a tail for error messages. */

const FRAME = /(?:^|[\s\r])frame=\s*(\d+)/g;

/**
 * The highest `frame=` count in one log message, or undefined. One message
 * can hold several stats reports joined by "\r", so take the last match.
 */
export function parseFrameCount(message: string): number | undefined {
  let last: number | undefined;
  for (const m of message.matchAll(FRAME)) last = Number(m[1]);
  return last;
}

/** Keeps the last `size` non-empty log lines, to quote when ffmpeg fails. */
export class LogTail {
  readonly #lines: string[] = [];
  constructor(readonly size = 20) {}

  push(message: string): void {
    for (const raw of message.split(/[\r\n]+/)) {
      const line = raw.trim();
      if (line.length === 0) continue;
      this.#lines.push(line);
      if (this.#lines.length > this.size) this.#lines.shift();
    }
  }

  text(): string {
    return this.#lines.join('\n');
  }
}
