/**
 * Named pause points for failure-injection tests (in the spirit of etcd's
 * gofail): `TABGRID_FAILPOINTS=merge.before-upload=3000` makes the merge step
 * wait 3 s there, so a test can kill -9 the coordinator mid-merge on purpose
 * instead of hoping to hit a 200 ms window. Unset in production: a no-op.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.js';

export type Failpoint =
  | 'split.after-upload'
  | 'merge.before-upload'
  | 'merge.after-upload'
  /** Inside a checker slot, before the segment check: a slow checker queue. */
  | 'verify.before-check'
  /** Before the pipeline runner runs that step (e.g. `step.before-probe`). */
  | `step.before-${string}`;

export async function failpoint(points: ReadonlyMap<string, number>, name: Failpoint, logger: Logger): Promise<void> {
  const ms = points.get(name);
  if (ms === undefined) return;
  logger.warn({ failpoint: name, ms }, 'failpoint: pausing');
  await sleep(ms);
}
