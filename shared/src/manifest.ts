/**
 * The chunk manifest written after splitting (`videos/{id}/manifests/source.json`):
 * what the split produced, so tasks, verification and merge never re-probe chunks.
 */
import { z } from 'zod';

export const MANIFEST_VERSION = 1 as const;

export const chunkEntrySchema = z.object({
  index: z.number().int().min(0),
  key: z.string().min(1),
  size: z.number().int().min(1),
  /** Video frames in the chunk (packets counted by ffprobe). */
  frames: z.number().int().min(1),
  /** Duration in seconds, from the chunk's own timestamps. */
  duration: z.number().min(0),
});
export type ChunkEntry = z.infer<typeof chunkEntrySchema>;

export const manifestSchema = z
  .object({
    version: z.literal(MANIFEST_VERSION),
    jobId: z.string(),
    container: z.string(),
    targetChunkSeconds: z.number().positive(),
    totalFrames: z.number().int().min(1),
    chunks: z.array(chunkEntrySchema).min(1),
  })
  .superRefine((m, ctx) => {
    m.chunks.forEach((c, i) => {
      if (c.index !== i)
        ctx.addIssue({ code: 'custom', message: `chunk ${i} has index ${c.index}; chunks must be numbered 0..n-1 in order` });
    });
    const sum = m.chunks.reduce((s, c) => s + c.frames, 0);
    if (sum !== m.totalFrames) ctx.addIssue({ code: 'custom', message: `chunk frames add up to ${sum}, not totalFrames ${m.totalFrames}` });
  });
export type Manifest = z.infer<typeof manifestSchema>;
