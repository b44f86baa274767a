/**
 * The keys the embedded storage holds, read from its data folder (s3rver
 * keeps each object as `<key>._S3rver_object`), to prove no orphan is left.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';

const SUFFIX = '._S3rver_object';

export async function storedKeys(dataDir: string, bucket = 'storage'): Promise<string[]> {
  const root = path.join(dataDir, 's3', bucket);
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  return entries
    .filter((e) => e.endsWith(SUFFIX))
    .map((e) => e.slice(0, -SUFFIX.length).split(path.sep).join('/'))
    .sort();
}

/**
 * The keys outside `encoded/{jobId}/` (HLS segments, poster, thumbnails:
 * how many depends on ffmpeg's packaging, checked by e2e/hls.e2e.test.ts).
 */
export function withoutDeliverables(keys: readonly string[], jobId: string): string[] {
  return keys.filter((k) => !k.startsWith(`encoded/${jobId}/`));
}

/** What a finished job leaves outside `encoded/{jobId}/`: its source, its manifest and one MP4 per rendition. */
export function expectedFinalKeys(jobId: string, sourceExt: string, renditions: readonly string[]): string[] {
  return [
    ...renditions.map((r) => `encoded/${jobId}_${r}.mp4`),
    `videos/${jobId}/manifests/source.json`,
    `videos/${jobId}/source/source.${sourceExt}`,
  ].sort();
}
