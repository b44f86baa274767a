/**
 * The argv of one native transcode: the tab's own x264 recipe from
 * shared/src/x264-args.ts, untouched (x264ChunkArgs for one rung,
 * x264LadderArgs for several: one decode, `split` into one chain per rung),
 * behind global options that change what ffmpeg reports, never what it
 * encodes: no stdin, overwrite (the outputs are fresh paths in a private
 * folder), `-progress pipe:1` and no stats line. Pure.
 */
import { NATIVE_X264_MAX_THREADS, type EncodeParams, x264ChunkArgs, x264LadderArgs } from '@tabgrid/shared';

/** Options that only change what ffmpeg reports; they precede the shared recipe. */
export const NATIVE_REPORT_FLAGS: readonly string[] = ['-nostdin', '-y', '-nostats', '-progress', 'pipe:1'];

export interface NativeArgvPaths {
  readonly input: string;
  /** One output path per rung, in the order of the rungs. */
  readonly outputs: readonly string[];
  readonly threads: number;
}

export function nativeArgv(rungs: readonly EncodeParams[], paths: NativeArgvPaths): string[] {
  if (rungs.length !== paths.outputs.length) throw new RangeError(`${rungs.length} rungs but ${paths.outputs.length} output paths`);
  const threads = { threads: paths.threads, maxThreads: NATIVE_X264_MAX_THREADS };
  const [rung] = rungs;
  const recipe =
    rungs.length === 1 && rung
      ? x264ChunkArgs(rung, { input: paths.input, output: paths.outputs[0]!, ...threads })
      : x264LadderArgs(rungs, { input: paths.input, outputs: paths.outputs, ...threads });
  return [...NATIVE_REPORT_FLAGS, ...recipe];
}
