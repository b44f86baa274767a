/**
 * One chunk → one MP4 segment per rung, with the browser's own codecs:
 * mediabunny demuxes the chunk (Matroska from the coordinator's split, or
 * MP4), one VideoDecoder decodes it once, and every decoded frame goes to
 * one VideoEncoder per rung at full size (the encoder scales: faster than a
 * canvas and without its chroma damage, docs/facts.md). mediabunny muxes
 * each rung into an MP4 whose timestamps start at 0, on the chunk's frame
 * grid, video only: the coordinator joins the segments with the concat
 * demuxer and adds the audio itself.
 *
 * transcodeChunk(input, rungs, onFrames) → one segment per rung, in order.
 * Throws PipelineError with the TranscodeErrorCode the caller reports. Runs
 * wherever WebCodecs does (our Web Worker; a page in the calibration).
 */
import {
  BufferSource,
  BufferTarget,
  EncodedPacket,
  EncodedPacketSink,
  EncodedVideoPacketSource,
  Input,
  MATROSKA,
  MP4,
  Mp4OutputFormat,
  Output,
} from 'mediabunny';
import type { EncodeParams } from '@tabgrid/shared';
import { rotateI420 } from './rotate-i420.js';
import { encoderConfig, nominalFrameRate, parameterSetsOf } from './webcodecs-config.js';

export type PipelineErrorCode = 'unsupported_input' | 'decode_failed' | 'encode_failed' | 'bad_output' | 'invalid_rungs';

export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  constructor(
    readonly code: PipelineErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Frames waiting in the decoder or any encoder before we stop feeding: bounds memory (a 1080p frame is 3 MB). */
const MAX_QUEUE = 8;

const toBytes = (b: AllowSharedBufferSource): Uint8Array =>
  b instanceof ArrayBuffer || b instanceof SharedArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

interface Rung {
  readonly params: EncodeParams;
  readonly encoder: VideoEncoder;
  readonly output: Output<Mp4OutputFormat, BufferTarget>;
  readonly source: EncodedVideoPacketSource;
  /** Muxing is async; packets are added one after another in decode order. */
  chain: Promise<void>;
  encoded: number;
}

export async function transcodeChunk(
  input: Uint8Array,
  rungs: readonly EncodeParams[],
  onFrames: (encodedBySlowestRung: number) => void,
): Promise<Uint8Array[]> {
  const demuxer = new Input({ source: new BufferSource(input), formats: [MATROSKA, MP4] });
  try {
    const track = await demuxer.getPrimaryVideoTrack().catch((e: unknown) => {
      throw new PipelineError('unsupported_input', `the chunk is not a readable video file: ${describe(e)}`);
    });
    if (!track) throw new PipelineError('unsupported_input', 'the chunk has no video track');
    const decoderConfig = await track.getDecoderConfig();
    if (!decoderConfig)
      throw new PipelineError('unsupported_input', `this browser cannot decode the chunk's codec (${track.codec ?? 'unknown'})`);
    const support = await VideoDecoder.isConfigSupported(decoderConfig).catch(() => ({ supported: false }));
    if (!support.supported) throw new PipelineError('unsupported_input', `this browser cannot decode ${decoderConfig.codec}`);

    const packets: EncodedPacket[] = [];
    for await (const p of new EncodedPacketSink(track).packets()) packets.push(p);
    const expected = rungs[0]!.frames;
    if (packets.length !== expected) {
      throw new PipelineError('bad_output', `the chunk has ${packets.length} video packets, the task says ${expected} frames`);
    }
    const fps = nominalFrameRate(packets.map((p) => p.timestamp));
    return await encodeAll(decoderConfig, packets, rungs, fps, onFrames);
  } finally {
    demuxer.dispose();
  }
}

async function encodeAll(
  decoderConfig: VideoDecoderConfig,
  packets: readonly EncodedPacket[],
  params: readonly EncodeParams[],
  fps: number | null,
  onFrames: (n: number) => void,
): Promise<Uint8Array[]> {
  let failure: PipelineError | null = null;
  const fail = (e: PipelineError) => {
    failure ??= e;
    wake();
  };
  // One waiter at a time: the feeding loop below, woken by any queue draining or any failure.
  let waiter: (() => void) | null = null;
  const wake = () => {
    const w = waiter;
    waiter = null;
    w?.();
  };
  const rate = fps ?? 30;
  const rungs: Rung[] = [];
  for (const p of params) {
    const config = encoderConfig(p, rate);
    const ok = await VideoEncoder.isConfigSupported(config).catch(() => ({ supported: false }));
    if (!ok.supported) throw new PipelineError('encode_failed', `this browser cannot encode ${config.codec} at ${p.width}x${p.height}`);
    const output = new Output({ format: new Mp4OutputFormat({ fastStart: 'in-memory' }), target: new BufferTarget() });
    const source = new EncodedVideoPacketSource('avc');
    output.addVideoTrack(source, fps === null ? {} : { frameRate: fps });
    await output.start();
    const rung: Rung = {
      params: p,
      output,
      source,
      chain: Promise.resolve(),
      encoded: 0,
      encoder: new VideoEncoder({
        output: (chunk, meta) => {
          let packet = EncodedPacket.fromEncodedChunk(chunk);
          const description = meta?.decoderConfig?.description;
          if (rung.encoded === 0 && description) {
            // SPS and PPS in band, in front of the segment's first IDR, besides the avcC: the merge
            // stream-copies a rendition's segments under the first one's avcC, so a segment from
            // another machine or browser version still decodes with its own parameter sets.
            const sets = parameterSetsOf(toBytes(description));
            const data = new Uint8Array(sets.length + packet.data.length);
            data.set(sets);
            data.set(packet.data, sets.length);
            packet = packet.clone({ data });
          }
          // Timestamps were made relative to the first frame before encoding.
          rung.chain = rung.chain.then(() => source.add(packet, meta));
          rung.chain.catch((e: unknown) => fail(new PipelineError('encode_failed', `muxing ${p.rendition}: ${describe(e)}`)));
          rung.encoded++;
          onFrames(Math.min(...rungs.map((r) => r.encoded)));
        },
        error: (e) => fail(new PipelineError('encode_failed', `${p.rendition} encoder: ${describe(e)}`)),
      }),
    };
    rung.encoder.configure(config);
    rung.encoder.addEventListener('dequeue', wake);
    rungs.push(rung);
  }

  const rotation = params[0]!.rotation;
  const rotate = rotation === 0 ? null : rotator(rotation);
  let decoded = 0;
  let first: number | null = null;
  // Decoded frames go to the encoders one after another, in presentation order; rotating one
  // waits for its pixels (copyTo is async), so frames queue here, counted in the backlog.
  let handling: Promise<void> = Promise.resolve();
  let waitingFrames = 0;
  const handle = async (frame: VideoFrame): Promise<void> => {
    try {
      if (failure) return;
      first ??= frame.timestamp;
      // Every segment starts at 0 (the merge lays segments end to end); the chunk may start at ~0.066 s.
      const at = frame.timestamp - first;
      const frameAt0 = rotate ? await rotate(frame, at) : new VideoFrame(frame, { timestamp: at });
      try {
        for (const r of rungs) r.encoder.encode(frameAt0, { keyFrame: decoded === 0 });
      } finally {
        frameAt0.close();
      }
      decoded++;
    } catch (e) {
      fail(e instanceof PipelineError ? e : new PipelineError('encode_failed', describe(e)));
    } finally {
      frame.close();
      waitingFrames--;
      wake();
    }
  };
  const decoder = new VideoDecoder({
    output: (frame) => {
      waitingFrames++;
      handling = handling.then(() => handle(frame));
    },
    error: (e) => fail(new PipelineError('decode_failed', `the browser's decoder refused the chunk: ${describe(e)}`)),
  });
  decoder.addEventListener('dequeue', wake);
  const backlog = () => Math.max(decoder.decodeQueueSize + waitingFrames, ...rungs.map((r) => r.encoder.encodeQueueSize));
  const closeAll = () => {
    for (const c of [decoder, ...rungs.map((r) => r.encoder)]) if (c.state !== 'closed') c.close();
  };

  try {
    try {
      decoder.configure(decoderConfig);
    } catch (e) {
      throw new PipelineError('unsupported_input', `the browser's decoder refused the chunk's configuration: ${describe(e)}`);
    }
    for (const p of packets) {
      while (!failure && backlog() >= MAX_QUEUE) await new Promise<void>((r) => (waiter = r));
      if (failure) throw failure;
      decoder.decode(p.toEncodedVideoChunk());
    }
    await decoder.flush().catch((e: unknown) => {
      throw failure ?? new PipelineError('decode_failed', `the browser's decoder failed on the chunk: ${describe(e)}`);
    });
    await handling;
    if (failure) throw failure;
    if (decoded !== packets.length) {
      throw new PipelineError('decode_failed', `the decoder gave ${decoded} frames for the chunk's ${packets.length} packets`);
    }
    await Promise.all(rungs.map((r) => r.encoder.flush())).catch((e: unknown) => {
      throw failure ?? new PipelineError('encode_failed', `flushing the encoders: ${describe(e)}`);
    });
    const segments: Uint8Array[] = [];
    for (const r of rungs) {
      await r.chain;
      if (failure) throw failure;
      if (r.encoded !== packets.length) {
        throw new PipelineError('bad_output', `${r.params.rendition}: the encoder gave ${r.encoded} frames for ${packets.length}`);
      }
      await r.output.finalize();
      const bytes = r.output.target.buffer;
      if (!bytes || bytes.byteLength === 0) throw new PipelineError('bad_output', `${r.params.rendition}: the muxer wrote nothing`);
      segments.push(new Uint8Array(bytes));
    }
    return segments;
  } catch (e) {
    for (const r of rungs) await r.output.cancel().catch(() => undefined);
    if (e instanceof PipelineError) throw e;
    throw failure ?? new PipelineError('encode_failed', describe(e));
  } finally {
    closeAll();
  }
}

/**
 * Rotation the coordinator asks for (the chunk's own rotation metadata is
 * not trusted), done on the decoded I420 planes (rotate-i420.ts) before the
 * encoders scale: a canvas would turn the picture into RGB and back, and
 * Chromium encodes a canvas frame as full range (yuvj420p), which the
 * coordinator refuses. Only rotated sources pay for the copy.
 */
function rotator(degrees: 90 | 180 | 270): (frame: VideoFrame, timestamp: number) => Promise<VideoFrame> {
  return async (frame, timestamp) => {
    if (frame.format !== 'I420') {
      throw new PipelineError('encode_failed', `rotating needs I420 frames, the decoder gave ${frame.format ?? 'an opaque format'}`);
    }
    const rect = frame.visibleRect ?? { x: 0, y: 0, width: frame.codedWidth, height: frame.codedHeight };
    const copy = { rect: { x: rect.x, y: rect.y, width: rect.width, height: rect.height } };
    const data = new Uint8Array(frame.allocationSize(copy));
    const layout = await frame.copyTo(data, copy);
    const turned = rotateI420({ data, layout }, rect.width, rect.height, degrees);
    return new VideoFrame(turned.data, {
      format: 'I420',
      codedWidth: turned.width,
      codedHeight: turned.height,
      timestamp,
      ...(frame.duration === null ? {} : { duration: frame.duration }),
      colorSpace: frame.colorSpace.toJSON(),
    });
  };
}
