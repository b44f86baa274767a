/**
 * probing → splitting: reads the source's streams and plans the ladder.
 */
import { planLadder } from '@tabgrid/shared';
import { PermanentError } from '../errors.js';
import { transitionJob, type JobRow } from '../jobs/job-table.js';
import { analyzeSource } from '../media/normalize.js';
import { probeSource } from '../media/probe.js';
import { localSource, type PipelineContext } from './context.js';

export async function runProbeStep(ctx: PipelineContext, job: JobRow): Promise<void> {
  const file = await localSource(ctx, job);
  // The source limits again (intake checked them too; the limits may have changed since), and the packet
  // scan measures what headers do not say: the span of the timestamps.
  const probed = await probeSource(ctx.tools, file, ctx.config.sourceLimits);
  const analysis = await analyzeSource(ctx.tools, file, ctx.config.chunkSeconds, ctx.config.sourceLimits);
  if (analysis.damaged) {
    throw new PermanentError('damaged_source', `the file is cut short or damaged (${analysis.damaged}); upload the complete file`);
  }
  const source = { ...probed, normalized: analysis.reasons.length ? { reasons: analysis.reasons, frameRate: analysis.frameRate } : null };
  const ladder = planLadder(source, job.requestedRenditions);
  if (ladder.length === 0) throw new PermanentError('no_renditions', 'no rendition fits this source');
  ctx.logger.info(
    {
      jobId: job.id,
      source: {
        w: source.width,
        h: source.height,
        fps: source.fps,
        duration: source.duration,
        rotation: source.rotation,
        normalized: source.normalized?.reasons ?? [],
        maxKeyframeGap: analysis.maxKeyframeGap,
      },
      ladder: ladder.map((r) => `${r.name}=${r.width}x${r.height}`),
    },
    'probed source',
  );
  await transitionJob(ctx.db, job.id, ['probing'], 'splitting', { source, ladder });
}
