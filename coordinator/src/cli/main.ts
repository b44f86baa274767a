/**
 * `pnpm tabgrid <command>`: the grid from a terminal.
 *
 *   workers --count N [--url URL]            N headless Chromium tabs on the contributor page
 *   submit FILE [--wait] [--url URL] [--renditions 720p,480p]
 *                                            upload a video; --wait follows it to the end
 */
import { parseArgs } from 'node:util';
import { createApiClient, parseRenditionList } from '@tabgrid/shared';
import { runSubmit } from './submit.js';
import { runWorkers } from './workers.js';

const USAGE = `usage:
  pnpm tabgrid workers --count N [--url http://127.0.0.1:8000]
  pnpm tabgrid submit FILE [--wait] [--url http://127.0.0.1:8000] [--renditions 720p,480p,360p]`;

const DEFAULT_URL = process.env.TABGRID_URL ?? 'http://127.0.0.1:8000';

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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const url = values.url.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new Error(`--url must be an http(s) URL, got ${url}`);
  switch (command) {
    case 'workers': {
      const count = Number(values.count);
      if (!Number.isInteger(count) || count < 1 || count > 64)
        throw new Error(`--count must be a whole number from 1 to 64, got ${values.count}`);
      return runWorkers({ url, count });
    }
    case 'submit': {
      const file = positionals[0];
      if (!file) throw new Error('submit needs a FILE');
      // Checked here, in the same words the coordinator would use, before a large upload starts.
      const renditions = values.renditions === undefined ? undefined : parseRenditionList(values.renditions);
      return runSubmit(createApiClient({ baseUrl: url }), { file, wait: values.wait, renditions });
    }
    default:
      console.error(`unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`tabgrid: ${(err as Error).message}`);
    process.exit(1);
  },
);
