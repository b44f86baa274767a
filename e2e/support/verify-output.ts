/** Checks a finished job's outputs the way a user would: download each and inspect it with ffprobe. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { JobView } from '@tabgrid/shared';
import { decodeErrors, probe, type StreamFacts } from './media.js';

export interface ExpectedOutput {
  rendition: string;
  width: number;
  height: number;
}

export async function verifyOutputs(
  job: JobView,
  opts: { baseUrl: string; source: StreamFacts; expected: ExpectedOutput[]; dir: string },
): Promise<Record<string, StreamFacts>> {
  expect(job.state).toBe('done');
  expect(job.outputs.map((o) => o.rendition).sort()).toEqual(opts.expected.map((e) => e.rendition).sort());
  const frameSeconds = 1 / (opts.source.frames / opts.source.duration);
  const facts: Record<string, StreamFacts> = {};
  for (const want of opts.expected) {
    const output = job.outputs.find((o) => o.rendition === want.rendition)!;
    const res = await fetch(new URL(output.url, opts.baseUrl));
    expect(res.status, `GET ${output.rendition} output`).toBe(200);
    const file = path.join(opts.dir, `${job.id}_${want.rendition}.mp4`);
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    const f = await probe(file);
    facts[want.rendition] = f;
    expect(f.codec, `${want.rendition} codec`).toBe('h264');
    expect([f.width, f.height], `${want.rendition} size`).toEqual([want.width, want.height]);
    expect(f.frames, `${want.rendition} frame count`).toBe(opts.source.frames);
    expect(
      Math.abs(f.duration - opts.source.duration),
      `${want.rendition} duration ${f.duration} vs ${opts.source.duration}`,
    ).toBeLessThanOrEqual(frameSeconds + 1e-6);
    if (opts.source.audioDuration !== null) {
      expect(f.audioCodec, `${want.rendition} audio`).toBe('aac');
      expect(Math.abs(f.audioDuration! - opts.source.audioDuration), `${want.rendition} audio duration`).toBeLessThanOrEqual(
        frameSeconds + 1e-6,
      );
    }
    expect(await decodeErrors(file), `${want.rendition} decodes cleanly`).toBe('');
  }
  return facts;
}
