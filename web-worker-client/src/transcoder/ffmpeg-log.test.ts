import { describe, expect, it } from 'vitest';
import { LogTail, parseFrameCount, parseStreamFps } from './ffmpeg-log.js';

// Lines as the wasm core (FFmpeg 5.1) logged them for the 4 s 720p test chunk.
describe('parseFrameCount', () => {
  it('reads stats lines', () => {
    expect(parseFrameCount('frame=    1 fps=0.0 q=0.0 size=       0kB time=00:00:00.00 bitrate=N/A speed=   0x    ')).toBe(1);
    expect(parseFrameCount('frame=  120 fps= 35 q=29.0 Lsize=     322kB time=00:00:03.90 bitrate= 676.9kbits/s speed=1.15x    ')).toBe(120);
  });

  it('takes the last report when several arrive in one message', () => {
    expect(parseFrameCount('frame=   17 fps=0.0 q=29.0\rframe=   38 fps= 35 q=29.0')).toBe(38);
  });

  it('ignores lines that only look alike', () => {
    expect(parseFrameCount('[libx264 @ 0xdf4ce0] frame I:1     Avg QP:13.07  size: 11327')).toBeUndefined();
    expect(parseFrameCount('keyframe=1 pts=3')).toBeUndefined();
    expect(parseFrameCount('Aborted()')).toBeUndefined();
  });
});

describe('parseStreamFps', () => {
  it('reads the frame rate of a video stream line', () => {
    expect(
      parseStreamFps(
        '  Stream #0:0: Video: h264 (High), yuv420p(progressive), 1280x720 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 1k tbn (default)',
      ),
    ).toBe(30);
    expect(
      parseStreamFps('  Stream #0:0(und): Video: h264 (Main) (avc1 / 0x31637661), yuv420p, 1920x1080, 29.97 fps, 29.97 tbr, 30k tbn'),
    ).toBe(29.97);
  });

  it('ignores other lines', () => {
    expect(parseStreamFps('  Stream #0:1: Audio: aac (LC), 48000 Hz, stereo, fltp')).toBeUndefined();
    expect(parseStreamFps('frame=  120 fps= 35 q=29.0 Lsize=     322kB')).toBeUndefined();
  });
});

describe('LogTail', () => {
  it('keeps the last lines, split and trimmed', () => {
    const tail = new LogTail(3);
    tail.push('a\nb');
    tail.push('  c  ');
    tail.push('');
    tail.push('d\r\n');
    expect(tail.text()).toBe('b\nc\nd');
  });
});
