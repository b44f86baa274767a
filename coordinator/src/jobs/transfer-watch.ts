/**
 * watchTransfer(opts) → { add(bytes), stop() }
 *
 * Cuts off a source that arrives too slowly, whichever way it comes (an
 * upload, or a URL the coordinator downloads): every `windowMs` it checks
 * that at least `minBytesPerSecond` × the window arrived during that window,
 * and the whole transfer must end within `timeoutMs`. A 1 byte/s upload
 * otherwise holds a connection, a file and an upload slot open forever
 * (slow loris). When either check fails, `onLimit` gets an error made by
 * `error(message)` that says which limit and what to do; the watch then
 * stops by itself.
 */
export interface TransferWatchOptions {
  readonly minBytesPerSecond: number;
  readonly windowMs: number;
  /** The whole transfer's limit; none when the caller bounds it otherwise. */
  readonly timeoutMs?: number;
  /** What is arriving, for the messages: "the upload", "the download". */
  readonly what: string;
  readonly error: (message: string) => Error;
  readonly onLimit: (err: Error) => void;
}

export interface TransferWatch {
  add(bytes: number): void;
  stop(): void;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

export function watchTransfer(opts: TransferWatchOptions): TransferWatch {
  let inWindow = 0;
  let stopped = false;
  const fail = (message: string) => {
    if (stopped) return;
    stop();
    opts.onLimit(opts.error(message));
  };
  const minPerWindow = (opts.minBytesPerSecond * opts.windowMs) / 1000;
  const window =
    opts.minBytesPerSecond > 0
      ? setInterval(() => {
          if (inWindow < minPerWindow) {
            fail(
              `${opts.what} sent ${inWindow} bytes in the last ${seconds(opts.windowMs)}, under the minimum of ${opts.minBytesPerSecond} bytes per second (UPLOAD_MIN_BYTES_PER_SECOND); use a faster connection`,
            );
          }
          inWindow = 0;
        }, opts.windowMs)
      : undefined;
  const timeoutMs = opts.timeoutMs;
  const deadline =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => fail(`${opts.what} took longer than ${seconds(timeoutMs)} (UPLOAD_TIMEOUT_SECONDS) and was cut off`), timeoutMs);
  window?.unref();
  deadline?.unref();
  function stop() {
    stopped = true;
    clearInterval(window);
    clearTimeout(deadline);
  }
  return {
    add(bytes: number) {
      inWindow += bytes;
    },
    stop,
  };
}
