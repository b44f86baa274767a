/**
 * One native ffmpeg run as a process group of its own: started detached
 * (its own group), its stdout and stderr handed over line by line (each line
 * capped, so no amount of output grows memory), and stopped by killing the
 * whole group, so a wrapper script (FFMPEG_PATH may be one, e.g. prlimit or
 * nice in front of ffmpeg) dies with what it started. A worker process that
 * exits kills the groups it still has running: detached children would
 * otherwise outlive it and keep the cores busy (docs/facts.md, "The native
 * worker").
 * Returns a handle: `done` settles with the exit code or signal (or the
 * spawn error, e.g. ENOENT), `kill()` stops the group.
 */
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

export interface FfmpegExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  readonly error?: Error;
}

export interface FfmpegRun {
  readonly pid: number | undefined;
  readonly done: Promise<FfmpegExit>;
  /** SIGKILL to the whole process group; harmless once it has exited. */
  kill(): void;
}

/** A line longer than this is no line ffmpeg prints for progress or statistics: the rest of it is dropped. */
const MAX_LINE_CHARS = 16 * 1024;

const live = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is gone already
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) killGroup(pid);
  });
}

function eachLine(stream: Readable, onLine: (line: string) => void): void {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const take = (text: string) => {
    const lines = (partial + text).split(/\r\n|\r|\n/);
    partial = lines.pop() ?? '';
    if (partial.length > MAX_LINE_CHARS) partial = partial.slice(0, MAX_LINE_CHARS);
    for (const line of lines) onLine(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line);
  };
  stream.on('data', (b: Buffer) => take(decoder.write(b)));
  stream.on('end', () => {
    take(decoder.end());
    if (partial) onLine(partial);
    partial = '';
  });
}

export function startFfmpeg(
  command: string,
  argv: readonly string[],
  handlers: { onStdoutLine: (line: string) => void; onStderrLine: (line: string) => void },
): FfmpegRun {
  installExitHook();
  const child = spawn(command, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid !== undefined) live.add(pid);
  eachLine(child.stdout, handlers.onStdoutLine);
  eachLine(child.stderr, handlers.onStderrLine);
  const done = new Promise<FfmpegExit>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    // 'close', not 'exit': every line of stdout and stderr has been handed over by then.
    child.once('close', (code, signal) => resolve({ code, signal }));
  }).finally(() => {
    if (pid !== undefined) live.delete(pid);
  });
  return {
    pid,
    done,
    kill: () => {
      if (pid !== undefined && live.has(pid)) killGroup(pid);
    },
  };
}
