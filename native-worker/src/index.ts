/** The native worker: operators' servers on the grid with native ffmpeg (see native-worker.ts). */
export { NativeTranscoder, type NativeTranscoderOptions } from './native-transcoder.js';
export { type NativeWorker, type NativeWorkerOptions, startNativeWorker, type WorkerSlot } from './native-worker.js';
export { allowedOrigins, guardedFetch, RefusedUrlError } from './url-guard.js';
