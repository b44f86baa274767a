import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  avcCodecString,
  avcCodecStringOfFile,
  bandwidths,
  buildMasterPlaylist,
  packageHls,
  parseMediaPlaylist,
  rewriteMediaPlaylist,
} from './hls.js';
import { runTool } from './tools.js';

const tools = { ffmpeg: process.env.FFMPEG_PATH ?? 'ffmpeg', ffprobe: process.env.FFPROBE_PATH ?? 'ffprobe' };

describe('avcCodecString', () => {
  it('reads profile, constraint flags and level from the avcC box', () => {
    const box = Buffer.concat([Buffer.from([0, 0, 0, 0x30]), Buffer.from('avcC', 'latin1'), Buffer.from([1, 0x64, 0x00, 0x1f, 0xff])]);
    expect(avcCodecString(Buffer.concat([Buffer.alloc(20), box]))).toBe('avc1.64001F');
    const baseline = Buffer.concat([Buffer.from('avcC', 'latin1'), Buffer.from([1, 0x42, 0xc0, 0x1e])]);
    expect(avcCodecString(baseline)).toBe('avc1.42C01E');
  });
  it('refuses a file without avcC', () => {
    expect(() => avcCodecString(Buffer.from('ftypisom'))).toThrow(/avcC/);
  });
});

describe('bandwidths', () => {
  it('peak is the largest segment bits per second, average the total', () => {
    expect(
      bandwidths([
        { bytes: 500_000, duration: 4 },
        { bytes: 1_000_000, duration: 4 },
        { bytes: 100_000, duration: 2 },
      ]),
    ).toEqual({
      peak: 2_000_000,
      average: Math.ceil((1_600_000 * 8) / 10),
    });
  });
});

describe('buildMasterPlaylist', () => {
  it('formats every variant with audio bandwidth added, the audio group referenced', () => {
    const text = buildMasterPlaylist(
      [
        {
          uri: '720p.m3u8',
          width: 1280,
          height: 720,
          frameRate: 30,
          videoCodec: 'avc1.64001F',
          peakBandwidth: 2_500_000,
          averageBandwidth: 1_800_000,
        },
        {
          uri: '360p.m3u8',
          width: 640,
          height: 360,
          frameRate: 29.97,
          videoCodec: 'avc1.64001E',
          peakBandwidth: 700_000,
          averageBandwidth: 500_000,
        },
      ],
      { uri: 'audio.m3u8', codec: 'mp4a.40.2', channels: 2, peakBandwidth: 140_000, averageBandwidth: 130_000 },
    );
    expect(text.split('\n')).toEqual([
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=2640000,AVERAGE-BANDWIDTH=1930000,RESOLUTION=1280x720,CODECS="avc1.64001F,mp4a.40.2",FRAME-RATE=30.000,AUDIO="aud"',
      '720p.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=840000,AVERAGE-BANDWIDTH=630000,RESOLUTION=640x360,CODECS="avc1.64001E,mp4a.40.2",FRAME-RATE=29.970,AUDIO="aud"',
      '360p.m3u8',
      '',
    ]);
  });
  it('without audio: video codec only, no group', () => {
    const text = buildMasterPlaylist(
      [{ uri: 'a.m3u8', width: 2, height: 2, frameRate: 25, videoCodec: 'avc1.42C00A', peakBandwidth: 10, averageBandwidth: 5 }],
      null,
    );
    expect(text).toContain('BANDWIDTH=10,AVERAGE-BANDWIDTH=5,RESOLUTION=2x2,CODECS="avc1.42C00A",FRAME-RATE=25.000\na.m3u8');
    expect(text).not.toContain('EXT-X-MEDIA');
  });
});

describe('rewriteMediaPlaylist', () => {
  it('replaces the init segment and every segment URI', async () => {
    const text = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.0,\nseg_0000.m4s\n#EXT-X-ENDLIST\n';
    const out = await rewriteMediaPlaylist(text, async (u) => `https://s/${u}?sig=1`);
    expect(out).toBe('#EXTM3U\n#EXT-X-MAP:URI="https://s/init.mp4?sig=1"\n#EXTINF:4.0,\nhttps://s/seg_0000.m4s?sig=1\n#EXT-X-ENDLIST\n');
    expect(parseMediaPlaylist(out)).toEqual([{ uri: 'https://s/seg_0000.m4s?sig=1', duration: 4 }]);
  });
});

describe('packageHls (native ffmpeg)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hls-test-'));
    // Three "chunks" of 4, 4 and 2 s, each starting with an IDR and no other keyframe, like the merged grid output.
    await runTool(tools.ffmpeg, [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=s=320x180:r=30:d=10',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-profile:v',
      'high',
      '-g',
      '120',
      '-keyint_min',
      '120',
      '-sc_threshold',
      '0',
      '-pix_fmt',
      'yuv420p',
      path.join(dir, 'in.mp4'),
    ]);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('cuts one segment per chunk, fMP4, with the measured bandwidths and the stream codec', async () => {
    const out = path.join(dir, 'v');
    await runTool('mkdir', ['-p', out]);
    const p = await packageHls(tools, { input: path.join(dir, 'in.mp4'), stream: 'video', dir: out, segmentSeconds: 4 });
    expect(p.segments.map((s) => s.duration)).toEqual([4, 4, 2]);
    expect(p.files).toEqual(['index.m3u8', 'init.mp4', 'seg_0000.m4s', 'seg_0001.m4s', 'seg_0002.m4s']);
    expect(p.peakBandwidth).toBeGreaterThan(p.averageBandwidth * 0.99);
    expect(await readFile(path.join(out, 'index.m3u8'), 'utf8')).toContain('#EXT-X-MAP:URI="init.mp4"');
    // High profile (0x64), no constraint flags, and the level x264 wrote, as ffprobe reads it from the SPS.
    const { stdout } = await runTool(tools.ffprobe, [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=profile,level',
      '-of',
      'json',
      path.join(dir, 'in.mp4'),
    ]);
    const s = (JSON.parse(stdout) as { streams: { profile: string; level: number }[] }).streams[0]!;
    expect(s.profile).toBe('High');
    expect(await avcCodecStringOfFile(path.join(out, 'init.mp4'))).toBe(`avc1.6400${s.level.toString(16).toUpperCase().padStart(2, '0')}`);
  });
});
