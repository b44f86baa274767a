/**
 * The messages between WebCodecsTranscoder (page) and its worker
 * (webcodecs.worker.ts), defined once for both. Requests carry an id and
 * every reply names it, so a reply from an abandoned request is recognised
 * and dropped. Buffers are transferred both ways, never copied.
 */
import type { EncodeParams } from '@tabgrid/shared';
import type { PipelineErrorCode } from './webcodecs-pipeline.js';

export type ToWorker = { type: 'transcode'; id: number; input: Uint8Array; rungs: EncodeParams[] };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; id: number; frames: number }
  | { type: 'done'; id: number; segments: Uint8Array[] }
  | { type: 'error'; id: number; code: PipelineErrorCode; message: string };
