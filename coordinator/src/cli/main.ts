/**
 * `pnpm tabgrid <command>`: the grid from a terminal.
 *
 *   workers --count N [--url URL]            N headless Chromium tabs on the contributor page
 *   worker --native [--url URL] [--concurrency N] [--threads N] [--name NAME] [--grace S]
 *                                            this machine's cores with native ffmpeg (operators' servers)
 *   submit FILE [--wait] [--url URL] [--renditions 720p,480p] [--encoder x264|webcodecs|auto]
 *                                            upload a video; --wait follows it to the end
 *   share JOB_ID [--days N] [--url URL]      a share link for one job
 *
 * A coordinator with ADMIN_TOKEN wants it for submit and share: TABGRID_TOKEN
 * (or --token, which other users of the machine can see in `ps`), sent as a
 * bearer token. `workers` needs none: the contributor page is open to anyone.
 */
import { parseArgs } from 'node:util';
import { ApiRequestError, createApiClient, jobEncoderSettingSchema, NATIVE_X264_MAX_THREADS, parseRenditionList } from '@tabgrid/shared';
import { runSubmit, TOKEN_HINT } from './submit.js';
import { runNativeWorker } from './worker.js';
import { runWorkers } from './workers.js';

const USAGE = `usage:
  pnpm tabgrid workers --count N [--url http://127.0.0.1:8000]
  pnpm tabgrid worker --native [--url http://127.0.0.1:8000] [--concurrency 1] [--threads CORES/N] [--name NAME] [--grace 120]
  pnpm tabgrid submit FILE [--wait] [--url http://127.0.0.1:8000] [--renditions 720p,480p,360p]
                       [--encoder x264|webcodecs|auto]   (default x264; auto: WebCodecs when at
                                                          least half the connected tabs run it)
  pnpm tabgrid share JOB_ID [--days 7] [--url http://127.0.0.1:8000]

A coordinator with ADMIN_TOKEN wants it for submit and share: set TABGRID_TOKEN
(or pass --token, which others on this machine can see in ps).`;

const DEFAULT_URL = process.env.TABGRID_URL ?? 'http://127.0.0.1:8000';

function wholeNumber(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new Error(`${flag} must be a whole number from ${min} to ${max}, got ${value}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: DEFAULT_URL },
      count: { type: 'string', default: '1' },
      wait: { type: 'boolean', default: false },
      renditions: { type: 'string' },
      encoder: { type: 'string' },
      token: { type: 'string' },
      days: { type: 'string' },
      native: { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '1' },
      threads: { type: 'string' },
      name: { type: 'string' },
      grace: { type: 'string', default: '120' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const url = values.url.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new Error(`--url must be an http(s) URL, got ${url}`);
  const token = values.token ?? (process.env.TABGRID_TOKEN || undefined);
  const api = () => createApiClient({ baseUrl: url, ...(token === undefined ? {} : { token }) });
  switch (command) {
    case 'workers': {
      const count = Number(values.count);
      if (!Number.isInteger(count) || count < 1 || count > 64)
        throw new Error(`--count must be a whole number from 1 to 64, got ${values.count}`);
      return runWorkers({ url, count });
    }
    case 'worker': {
      if (!values.native) throw new Error('worker needs --native (browser tabs: `tabgrid workers --count N`)');
      const concurrency = wholeNumber('--concurrency', values.concurrency, 1, 64);
      const threads = values.threads === undefined ? undefined : wholeNumber('--threads', values.threads, 1, NATIVE_X264_MAX_THREADS);
      const graceSeconds = wholeNumber('--grace', values.grace, 0, 3600);
      if (values.name !== undefined && (values.name.length === 0 || values.name.length > 80))
        throw new Error('--name must be 1 to 80 characters');
      return runNativeWorker({ url, concurrency, threads, name: values.name, graceSeconds });
    }
    case 'submit': {
      const file = positionals[0];
      if (!file) throw new Error('submit needs a FILE');
      // Checked here, in the same words the coordinator would use, before a large upload starts.
      const renditions = values.renditions === undefined ? undefined : parseRenditionList(values.renditions);
      const encoder = values.encoder === undefined ? undefined : jobEncoderSettingSchema.safeParse(values.encoder);
      if (encoder && !encoder.success) throw new Error(`--encoder must be x264, webcodecs or auto, got ${values.encoder}`);
      return runSubmit(api(), { file, wait: values.wait, renditions, encoder: encoder?.data });
    }
    case 'share': {
      const id = positionals[0];
      if (!id) throw new Error('share needs a JOB_ID');
      const days = values.days === undefined ? undefined : Number(values.days);
      if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 90))
        throw new Error(`--days must be a whole number from 1 to 90, got ${values.days}`);
      const link = await api().shareJob(id, days === undefined ? {} : { expiresInDays: days });
      console.log(link.url);
      console.error(`works until ${link.expiresAt}`);
      return 0;
    }
    default:
      console.error(`unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const hint = err instanceof ApiRequestError && err.status === 401 ? `. ${TOKEN_HINT}` : '';
    console.error(`tabgrid: ${(err as Error).message}${hint}`);
    process.exit(1);
  },
);
