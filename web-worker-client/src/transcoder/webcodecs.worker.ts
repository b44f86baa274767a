/**
 * The WebCodecs transcoder's Web Worker: runs webcodecs-pipeline.ts for
 * each request, posts frame progress (at most every 100 ms) and the
 * segments (transferred), or the error as { code, message }. Decoding and
 * encoding happen in the browser's codec threads either way; the worker
 * keeps demuxing, muxing and frame bookkeeping off the page's thread.
 */
import type { FromWorker, ToWorker } from './webcodecs-messages.js';
import { PipelineError, transcodeChunk } from './webcodecs-pipeline.js';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const { id, input, rungs } = event.data;
  let last = 0;
  const onFrames = (frames: number) => {
    const now = performance.now();
    if (now - last < 100 && frames < rungs[0]!.frames) return;
    last = now;
    post({ type: 'progress', id, frames });
  };
  transcodeChunk(input, rungs, onFrames).then(
    (segments) =>
      post(
        { type: 'done', id, segments },
        segments.map((s) => s.buffer),
      ),
    (e: unknown) => {
      const code = e instanceof PipelineError ? e.code : 'encode_failed';
      post({ type: 'error', id, code, message: e instanceof Error ? e.message : String(e) });
    },
  );
};

post({ type: 'ready' });
