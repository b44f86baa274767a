/**
 * A bare page that runs the tab's own transcoders (WebCodecs and the
 * ffmpeg.wasm x264 core) on a chunk fetched from the harness server, and
 * PUTs each segment back to it. Built by harness-server.ts with Vite; used
 * by the WebCodecs calibration and its e2e tests, never shipped.
 *
 * window.__harness.run(kind, chunkUrl, rungs, uploadBase, abortAfterMs?) →
 *   { ms, sizes } or { error: { code, message } }
 */
import type { EncodeParams } from '@tabgrid/shared';
import { FfmpegWasmTranscoder } from '@tabgrid/web-worker-client/src/transcoder/ffmpeg-wasm.js';
import { isTranscodeError, type Transcoder } from '@tabgrid/web-worker-client/src/transcoder/types.js';
import { probeWebCodecsH264, WebCodecsTranscoder } from '@tabgrid/web-worker-client/src/transcoder/webcodecs.js';

type Kind = 'webcodecs' | 'wasm-x264';
const transcoders: Partial<Record<Kind, Transcoder>> = {};
const get = (kind: Kind): Transcoder =>
  (transcoders[kind] ??= kind === 'webcodecs' ? new WebCodecsTranscoder() : new FfmpegWasmTranscoder());

async function run(kind: Kind, chunkUrl: string, rungs: EncodeParams[], uploadBase: string, abortAfterMs?: number) {
  const t = get(kind);
  await t.load();
  const input = new Uint8Array(await (await fetch(chunkUrl)).arrayBuffer());
  const t0 = performance.now();
  const signal = abortAfterMs === undefined ? undefined : AbortSignal.timeout(abortAfterMs);
  const opts = signal ? { signal } : {};
  try {
    const segments: Uint8Array[] = [];
    if (t.maxRungs >= rungs.length) segments.push(...(await t.transcode(input, rungs, opts)));
    else for (const r of rungs) segments.push(...(await t.transcode(input.slice(), [r], opts)));
    const ms = performance.now() - t0;
    for (const [i, s] of segments.entries()) await fetch(`${uploadBase}/${i}`, { method: 'PUT', body: new Uint8Array(s) });
    return { ms, sizes: segments.map((s) => s.byteLength) };
  } catch (e) {
    return { error: isTranscodeError(e) ? { code: e.code, message: e.message } : { code: 'thrown', message: String(e) } };
  }
}

(globalThis as unknown as { __harness: unknown }).__harness = { run, probe: probeWebCodecsH264, ready: true };
