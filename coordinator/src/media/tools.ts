/**
 * Runs the native ffmpeg/ffprobe (Debian's, or FFMPEG_PATH/FFPROBE_PATH).
 * Output is collected; stderr's tail goes into the error when a tool fails.
 */
import { spawn } from 'node:child_process';
import { MediaToolError, PermanentError } from '../errors.js';

export interface MediaTools {
  readonly ffmpeg: string;
  readonly ffprobe: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

const STDERR_TAIL = 4000;

export function runTool(
  binary: string,
  args: readonly string[],
  opts: { timeoutMs?: number; signal?: AbortSignal; onStdoutLine?: (line: string) => void } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (!opts.onStdoutLine) {
        stdout += d;
        return;
      }
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) opts.onStdoutLine(line);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL * 4);
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT') {
        reject(new MediaToolError(binary, `not found; install it (apt-get install -y ffmpeg) or set FFMPEG_PATH/FFPROBE_PATH`, ''));
      } else reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else {
        const why = signal ? `killed by ${signal}${opts.timeoutMs ? ` (timeout ${opts.timeoutMs} ms?)` : ''}` : `exit code ${code}`;
        reject(new MediaToolError(binary, `${why}: ${stderr.trim().slice(-STDERR_TAIL) || '(no output)'}`, stderr));
      }
    });
  });
}

/** Fails fast at start when a tool is missing, with the command that installs it. */
export async function checkMediaTools(tools: MediaTools): Promise<{ ffmpeg: string; ffprobe: string }> {
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
  return { ffmpeg: await version(tools.ffmpeg, 'FFMPEG_PATH'), ffprobe: await version(tools.ffprobe, 'FFPROBE_PATH') };
}
