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

const INPUT_FPS = /\bVideo: .*?, ([\d.]+) fps\b/;

/**
 * The frame rate ffmpeg reports for a video stream ("…, 30 fps, 30 tbr, …"),
 * or undefined. The input stream is listed before the output, so the first
 * line that has one is the chunk's: frames ÷ this = the chunk's media seconds.
 */
export function parseStreamFps(message: string): number | undefined {
  const m = INPUT_FPS.exec(message);
  const fps = m ? Number(m[1]) : NaN;
  return Number.isFinite(fps) && fps > 0 ? fps : undefined;
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
