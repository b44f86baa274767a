/**
 * Runs the native tools (ffmpeg/ffprobe: Debian's, or FFMPEG_PATH and
 * FFPROBE_PATH; yt-dlp) on files a stranger sent, so every run is bounded
 * three ways, and a run stopped at a limit fails with a ToolLimitError that
 * says which one:
 *
 * - time: every run has a timeout; the caller says how long its work may
 *   take. The tool is killed when it is over.
 * - output: stdout is collected up to a cap (8 MiB unless the caller says
 *   otherwise) or handed to the caller line by line as it comes (each line
 *   capped at 64 KiB); stderr keeps only its tail. ffprobe printed hundreds
 *   of MB of per-packet JSON for a file of millions of tiny packets, and the
 *   coordinator died collecting it (docs/facts.md, "Split and merge").
 * - memory: the tool runs under `prlimit --as=…` (util-linux), an address
 *   space ceiling, TOOL_MEMORY_LIMIT_MB for the whole process. An 8192×8192
 *   source once made a 7 GB ffmpeg; under the ceiling its allocations fail
 *   and it exits with "Cannot allocate memory" instead (docs/facts.md,
 *   "Native tools").
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { MediaToolError, PermanentError, ToolLimitError } from '../errors.js';

export interface MediaTools {
  readonly ffmpeg: string;
  readonly ffprobe: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Every run has a time limit: after this many ms (default 10 minutes) the tool is killed and the run fails (limit `time`). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Stdout is handed over line by line as it comes instead of being
   * collected. A throw from here stops the tool and fails the run with the
   * thrown error (e.g. "over the packet limit").
   */
  readonly onStdoutLine?: (line: string) => void;
  /** Cap on collected stdout, bytes (default 8 MiB; limit `output`). */
  readonly maxOutputBytes?: number;
  /** Address-space ceiling for this run, bytes (default: the process's, see setToolMemoryLimit). */
  readonly memoryBytes?: number;
}

const MiB = 1024 * 1024;
const STDERR_TAIL = 4000;
export const DEFAULT_MAX_OUTPUT_BYTES = 8 * MiB;
const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** A line longer than this is not something ffprobe prints for one packet or stream: the run is stopped. */
const MAX_LINE_BYTES = 64 * 1024;

/**
 * The default address-space ceiling for one tool run, MiB: 2048 + 512 per
 * core, at most 75 % of RAM, at least 1024. Measured (docs/facts.md,
 * "Native tools"): the heaviest server-side run, the x264 mezzanine of a
 * 4096×3072 source, needs 2044 MiB of address space on 2 cores, a 3840×2160
 * one 1565 MiB on 2 cores, 2076 on 4, 3161 on 8 (x264 and the decoder start
 * threads, and frame buffers, per core), so this leaves ~50 % headroom at
 * every core count measured.
 */
export function defaultToolMemoryMiB(): number {
  const byCores = 2048 + 512 * os.availableParallelism();
  const byRam = Math.floor((os.totalmem() / MiB) * 0.75);
  return Math.max(1024, Math.min(byCores, byRam));
}

let processMemoryBytes = defaultToolMemoryMiB() * MiB;

/** Sets the ceiling every later run gets unless it asks for its own (TOOL_MEMORY_LIMIT_MB, at start). */
export function setToolMemoryLimit(bytes: number): void {
  processMemoryBytes = bytes;
}

/** The path of an executable on PATH, or null. */
export function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

let prlimitPath: string | null | undefined;
/** util-linux's prlimit, looked up once; null where there is none (then runs have no memory ceiling). */
export function prlimitBinary(): string | null {
  if (prlimitPath === undefined) prlimitPath = findOnPath('prlimit');
  return prlimitPath;
}

/** What a tool prints when an allocation failed (ffmpeg, x264, glibc's loader, C++ code), and prlimit when it could not start it. */
const OUT_OF_MEMORY = /cannot allocate memory|malloc of size \d+ failed|out of memory|std::bad_alloc|failed to map segment|ENOMEM/i;
const PRLIMIT_EXEC_FAILED = /^prlimit: failed to execute/m;

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

export function runTool(binary: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const name = path.basename(binary);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxOutput = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const memory = opts.memoryBytes ?? processMemoryBytes;
  const prlimit = prlimitBinary();
  const [command, argv] = prlimit ? [prlimit, [`--as=${Math.floor(memory)}`, '--', binary, ...args]] : [binary, [...args]];

  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    const chunks: Buffer[] = [];
    let collected = 0;
    let stderr = '';
    let pending = '';
    const decoder = new StringDecoder('utf8');
    /** Set when this side stopped the tool; it is what the run fails with. */
    let stoppedWith: Error | undefined;
    const stop = (err: Error) => {
      if (stoppedWith) return;
      stoppedWith = err;
      child.kill('SIGKILL');
    };

    child.stdout.on('data', (d: Buffer) => {
      if (stoppedWith) return;
      if (!opts.onStdoutLine) {
        collected += d.length;
        if (collected > maxOutput) {
          stop(
            new ToolLimitError(
              name,
              'output',
              `printed more than ${maxOutput} bytes (its output limit for this run); the file is pathological`,
            ),
          );
          return;
        }
        chunks.push(d);
        return;
      }
      pending += decoder.write(d);
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > MAX_LINE_BYTES) {
        stop(
          new ToolLimitError(
            name,
            'output',
            `printed a line longer than ${MAX_LINE_BYTES} bytes (its output limit); the file is pathological`,
          ),
        );
        return;
      }
      try {
        for (const line of lines) opts.onStdoutLine(line);
      } catch (err) {
        stop(err instanceof Error ? err : new Error(String(err)));
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL * 4);
    });
    const timer = setTimeout(
      () => stop(new ToolLimitError(name, 'time', `stopped after ${seconds(timeoutMs)} (its time limit for this run)`)),
      timeoutMs,
    );
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT') reject(notFound(binary));
      else reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (stoppedWith) {
        reject(stoppedWith);
        return;
      }
      if (code === 0) {
        if (opts.onStdoutLine) {
          const last = pending + decoder.end();
          try {
            if (last) opts.onStdoutLine(last);
          } catch (err) {
            reject(err);
            return;
          }
        }
        resolve({ stdout: Buffer.concat(chunks).toString('utf8'), stderr });
        return;
      }
      if (prlimit && (code === 126 || code === 127) && PRLIMIT_EXEC_FAILED.test(stderr)) {
        reject(notFound(binary));
        return;
      }
      const tail = stderr.trim().slice(-STDERR_TAIL) || '(no output)';
      if (prlimit && OUT_OF_MEMORY.test(stderr)) {
        reject(
          new ToolLimitError(
            name,
            'memory',
            `ran out of its memory ceiling of ${Math.round(memory / MiB)} MiB (TOOL_MEMORY_LIMIT_MB): ${tail.slice(-500)}`,
          ),
        );
        return;
      }
      const why = signal
        ? `killed by ${signal}${signal === 'SIGKILL' ? ' (out of memory? the system may have killed it)' : ''}`
        : `exit code ${code}`;
      reject(new MediaToolError(binary, `${why}: ${tail}`, stderr));
    });
  });
}

function notFound(binary: string): MediaToolError {
  return new MediaToolError(binary, 'not found; install it (apt-get install -y ffmpeg) or set FFMPEG_PATH/FFPROBE_PATH', '');
}

/**
 * Fails fast at start when a tool is missing, with the command that installs
 * it. Reports the memory ceiling runs get (null: no prlimit, no ceiling).
 */
export async function checkMediaTools(tools: MediaTools): Promise<{ ffmpeg: string; ffprobe: string; memoryCeilingMiB: number | null }> {
  const version = async (bin: string, env: string) => {
    try {
      const { stdout } = await runTool(bin, ['-version'], { timeoutMs: 10_000 });
      return stdout.split('\n')[0] ?? bin;
    } catch {
      throw new PermanentError(
        'missing_media_tool',
        `${bin} was not found or does not run. Install ffmpeg (Debian/Ubuntu: apt-get install -y ffmpeg; macOS: brew install ffmpeg) or point ${env} at the binary.`,
      );
    }
  };
  return {
    ffmpeg: await version(tools.ffmpeg, 'FFMPEG_PATH'),
    ffprobe: await version(tools.ffprobe, 'FFPROBE_PATH'),
    memoryCeilingMiB: prlimitBinary() ? Math.round(processMemoryBytes / MiB) : null,
  };
}
