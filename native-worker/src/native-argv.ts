/**
 * The argv of one native transcode: the tab's own x264 recipe from
 * shared/src/x264-args.ts, untouched, behind global options that change
 * what ffmpeg reports, never what it encodes: no stdin, overwrite (the
 * outputs are fresh paths in a private folder), `-v verbose` for each
 * output's final frame count, `-progress pipe:1` (and no stats line) for
 * progress. Pure.
 */
import { NATIVE_X264_MAX_THREADS, type EncodeParams, x264ChunkArgs } from '@tabgrid/shared';

/** Options that only change what ffmpeg reports; they precede the shared recipe. */
export const NATIVE_REPORT_FLAGS: readonly string[] = ['-nostdin', '-y', '-v', 'verbose', '-nostats', '-progress', 'pipe:1'];

export interface NativeArgvPaths {
  readonly input: string;
  /** One output path per rung, in the order of the rungs. */
  readonly outputs: readonly string[];
  readonly threads: number;
}

export function nativeArgv(rungs: readonly EncodeParams[], paths: NativeArgvPaths): string[] {
  if (rungs.length !== paths.outputs.length) throw new RangeError(`${rungs.length} rungs but ${paths.outputs.length} output paths`);
  const [rung] = rungs;
  if (!rung || rungs.length > 1) throw new RangeError(`one rung per run, got ${rungs.length}`);
  const recipe = x264ChunkArgs(rung, {
    input: paths.input,
    output: paths.outputs[0]!,
    threads: paths.threads,
    maxThreads: NATIVE_X264_MAX_THREADS,
  });
  return [...NATIVE_REPORT_FLAGS, ...recipe];
}
