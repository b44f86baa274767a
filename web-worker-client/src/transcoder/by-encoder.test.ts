import type { EncodeParams, EncoderKind } from '@tabgrid/shared';
import { describe, expect, it } from 'vitest';
import { EncoderSet } from './by-encoder.js';
import { TranscodeError, type TranscodeOptions, type Transcoder } from './types.js';

/** Records which rungs it was given; answers one byte per rung naming its kind. */
class Recorder implements Transcoder {
  readonly threads = 1;
  readonly multiThread = false;
  loaded = false;
  readonly calls: string[][] = [];
  constructor(
    readonly kind: EncoderKind,
    readonly maxRungs: number,
    private readonly failLoad = false,
  ) {}
  async load(): Promise<void> {
    if (this.failLoad) throw new TranscodeError('load_failed', 'no');
    this.loaded = true;
  }
  async transcode(_input: Uint8Array, rungs: readonly EncodeParams[], opts?: TranscodeOptions): Promise<Uint8Array[]> {
    this.calls.push(rungs.map((r) => r.rendition));
    opts?.onProgress?.({ frames: rungs[0]!.frames, ratio: 1 });
    return rungs.map(() => Uint8Array.of(this.kind.length));
  }
  dispose(): void {}
}

const rung = (rendition: EncodeParams['rendition'], encoder?: 'x264' | 'webcodecs'): EncodeParams => ({
  rendition,
  codec: 'h264',
  width: 640,
  height: 360,
  rotation: 0,
  crf: 23,
  maxrateKbps: 800,
  bufsizeKbps: 1600,
  preset: 'veryfast',
  frames: 10,
  ...(encoder ? { encoder } : {}),
  ...(encoder === 'webcodecs' ? { bitrateKbps: 700 } : {}),
});

describe('EncoderSet', () => {
  it('routes each call to the encoder its rungs are pinned to, x264 when none is named', async () => {
    const x = new Recorder('wasm-x264', 1);
    const w = new Recorder('webcodecs-h264', 8);
    const set = new EncoderSet(x, w);
    await set.load();
    expect(set.encoders).toEqual(['wasm-x264', 'webcodecs-h264']);
    await set.transcode(new Uint8Array(1), [rung('480p')]);
    await set.transcode(new Uint8Array(1), [rung('720p', 'webcodecs'), rung('360p', 'webcodecs')]);
    expect(x.calls).toEqual([['480p']]);
    expect(w.calls).toEqual([['720p', '360p']]);
  });

  it('encodes more rungs than an encoder takes at once in turns, progress over the whole batch', async () => {
    const x = new Recorder('wasm-x264', 1);
    const set = new EncoderSet(x, new Recorder('webcodecs-h264', 8));
    const ratios: number[] = [];
    const out = await set.transcode(new Uint8Array(1), [rung('720p', 'x264'), rung('480p', 'x264')], {
      onProgress: (p) => ratios.push(p.ratio),
    });
    expect(out).toHaveLength(2);
    expect(x.calls).toEqual([['720p'], ['480p']]);
    expect(ratios).toEqual([0.5, 1]);
  });

  it('refuses mixed encoders in one call, and WebCodecs rungs when the tab has none', async () => {
    const set = new EncoderSet(new Recorder('wasm-x264', 1), new Recorder('webcodecs-h264', 8));
    await expect(set.transcode(new Uint8Array(1), [rung('720p', 'webcodecs'), rung('480p', 'x264')])).rejects.toMatchObject({
      code: 'invalid_rungs',
    });
    const x264Only = new EncoderSet(new Recorder('wasm-x264', 1), null);
    expect(x264Only.encoders).toEqual(['wasm-x264']);
    await expect(x264Only.transcode(new Uint8Array(1), [rung('720p', 'webcodecs')])).rejects.toMatchObject({ code: 'invalid_rungs' });
  });

  it('drops WebCodecs from what it reports when its worker fails to start; x264 failing fails the load', async () => {
    const set = new EncoderSet(new Recorder('wasm-x264', 1), new Recorder('webcodecs-h264', 8, true));
    await set.load();
    expect(set.encoders).toEqual(['wasm-x264']);
    await expect(new EncoderSet(new Recorder('wasm-x264', 1, true), null).load()).rejects.toMatchObject({ code: 'load_failed' });
  });
});
