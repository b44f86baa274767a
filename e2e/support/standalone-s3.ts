/**
 * An S3 server in its own process, standing in for MinIO: the coordinator
 * talks to it through the S3_* settings (the production path: presigned URLs
 * point straight at it, with CORS for the contributor page), and the storage
 * outage test can stop and restart it. s3rver checks no signatures — the
 * embedded gateway's tests cover that; here only availability matters.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, tempDir } from './coordinator-process.js';

const CORS = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>`;

export interface StandaloneS3 {
  readonly env: Record<string, string>;
  readonly dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function standaloneS3(bucket = 'tabgrid'): Promise<StandaloneS3> {
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
  const dir = await tempDir('s3');
  const cors = path.join(dir, 'cors.xml');
  await writeFile(cors, CORS);
  const port = await freePort();
  let child: ChildProcess | undefined;
  const up = async () =>
    fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
  return {
    dir,
    env: {
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_ACCESS_KEY: 'S3RVER',
      S3_SECRET_KEY: 'S3RVER',
      S3_BUCKET: bucket,
    },
    async start() {
      child = spawn(
        process.execPath,
        [bin, '-d', path.join(dir, 'data'), '-a', '127.0.0.1', '-p', String(port), '-s', '--configure-bucket', bucket, cors],
        { stdio: 'ignore' },
      );
      for (let i = 0; i < 100 && !(await up()); i++) await sleep(100);
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
