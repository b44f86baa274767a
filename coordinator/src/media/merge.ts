/**
 * Server-side finishing: the source audio encoded once (AAC), and the
 * accepted segments of one rendition joined in chunk order with the concat
 * demuxer, stream copy, faststart. Segments start at timestamp 0 each; the
 * concat demuxer lays them end to end (measured: frame count and duration
 * exact, no frame dropped or doubled at a seam).
 */
import { writeFile } from 'node:fs/promises';
import { runTool, type MediaTools } from './tools.js';

export async function encodeAudio(tools: MediaTools, source: string, out: string): Promise<void> {
  await runTool(
    tools.ffmpeg,
    ['-v', 'error', '-nostdin', '-y', '-i', source, '-map', '0:a:0', '-vn', '-sn', '-dn', '-c:a', 'aac', '-b:a', '128k', '-ac', '2', out],
    { timeoutMs: 30 * 60_000 },
  );
}

/** Concat-demuxer list syntax: single-quoted, a quote written as '\''. */
const quote = (p: string) => `'${p.replace(/'/g, "'\\''")}'`;

export async function mergeSegments(
  tools: MediaTools,
  opts: { segments: readonly string[]; audio: string | null; listFile: string; out: string },
): Promise<void> {
  await writeFile(opts.listFile, opts.segments.map((s) => `file ${quote(s)}\n`).join(''));
  const args = ['-v', 'error', '-nostdin', '-y', '-f', 'concat', '-safe', '0', '-i', opts.listFile];
  if (opts.audio) args.push('-i', opts.audio, '-map', '0:v:0', '-map', '1:a:0');
  else args.push('-map', '0:v:0');
  args.push('-c', 'copy', '-movflags', '+faststart', opts.out);
  await runTool(tools.ffmpeg, args, { timeoutMs: 30 * 60_000 });
}
