/**
 * Starts the real coordinator as a child process (the same entry point as
 * `pnpm start`), on a free port and a temporary DATA_DIR, and stops it —
 * gracefully, or with SIGKILL for the failure tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createApiClient, type ApiClient } from '@tabgrid/shared';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(REPO_ROOT, 'e2e', 'artifacts');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix: string): Promise<string> {
  await mkdir(path.join(os.tmpdir(), 'tabgrid-e2e'), { recursive: true });
  return mkdtemp(path.join(os.tmpdir(), 'tabgrid-e2e', `${prefix}-`));
}

export interface CoordinatorProcess {
  readonly url: string;
  /** The API client for `url`, with the operator token as a bearer token when the coordinator has one (env ADMIN_TOKEN). */
  readonly api: ApiClient;
  readonly port: number;
  readonly dataDir: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** Removes a test's temporary folder (data directories included) once it is done with it. */
export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

export async function startCoordinatorProcess(
  opts: { env?: Record<string, string>; dataDir?: string; port?: number; name?: string } = {},
): Promise<CoordinatorProcess> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? (await tempDir('data'));
  await mkdir(ARTIFACTS, { recursive: true });
  const logFile = path.join(ARTIFACTS, `${opts.name ?? 'coordinator'}-${port}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'coordinator/src/main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  const token = opts.env?.ADMIN_TOKEN;
  const api = createApiClient({ baseUrl: url, ...(token ? { token } : {}) });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const early = await Promise.race([exited, sleep(250).then(() => 'running' as const)]);
    if (early !== 'running') throw new Error(`coordinator exited with ${early} during start; see ${logFile}`);
    const ok = await api.health().then(
      (h) => h.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`coordinator did not become healthy within 60 s; see ${logFile}`);
    }
  }
  return {
    url,
    api,
    port,
    dataDir,
    logFile,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
