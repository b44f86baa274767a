/**
 * `pnpm tabgrid worker --native` as an operator runs it, as a child process:
 * its pino lines are collected (and kept in e2e/artifacts/), and it is
 * stopped with the signals an operator sends. Returns a handle.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ARTIFACTS, REPO_ROOT } from './coordinator-process.js';

export interface LogLine {
  level: number;
  msg: string;
  slot?: number;
  worker?: string;
  [key: string]: unknown;
}

export interface NativeWorkerProcess {
  /** Every JSON line it printed so far. */
  readonly lines: LogLine[];
  readonly logFile: string;
  /** Resolves with its exit code once it has exited (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Waits until a line matching `match` was printed. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL if still running (test cleanup). */
  kill(): Promise<void>;
}

export async function startNativeWorkerProcess(opts: { url: string; args?: string[]; name: string }): Promise<NativeWorkerProcess> {
  await mkdir(ARTIFACTS, { recursive: true });
  const logFile = path.join(ARTIFACTS, `${opts.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'coordinator/src/cli/main.ts'), 'worker', '--native', '--url', opts.url, ...(opts.args ?? [])],
    { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: LogLine[] = [];
  let partial = '';
  child.stdout!.on('data', (b: Buffer) => {
    log.write(b);
    const parts = (partial + b.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ level: 50, msg: `not JSON: ${p}` });
      }
    }
  });
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    lines,
    logFile,
    exited,
    async waitFor(match, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (child.exitCode !== null) throw new Error(`the native worker exited (${child.exitCode}); see ${logFile}`);
        if (Date.now() > deadline) throw new Error(`no such line from the native worker within ${timeoutMs} ms; see ${logFile}`);
        await sleep(50);
      }
    },
    signal: (sig) => child.kill(sig),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
