import { describe, expect, it } from 'vitest';
import { ProgressParser } from './ffmpeg-progress.js';

/** The first and last blocks ffmpeg 5.1 printed with `-progress pipe:1` for a 2-output split run (120 frames). */
const REPORT = `frame=1
fps=0.00
stream_0_0_q=0.0
stream_1_0_q=0.0
bitrate=N/A
total_size=48
out_time_us=0
out_time_ms=0
out_time=00:00:00.000000
dup_frames=0
drop_frames=0
speed=   0x
progress=continue
frame=61
fps=59.35
stream_0_0_q=29.0
stream_1_0_q=29.0
bitrate=   0.3kbits/s
total_size=48
out_time_us=N/A
out_time=N/A
speed=1.36x
progress=continue
frame=120
fps=68.10
stream_0_0_q=-1.0
stream_1_0_q=-1.0
bitrate= 647.9kbits/s
total_size=315837
out_time_us=3900065
out_time_ms=3900065
out_time=00:00:03.900065
dup_frames=0
drop_frames=0
speed=2.21x
progress=end`;

describe('ProgressParser', () => {
  it('turns each block into frames, output time and speed, and marks the last', () => {
    const p = new ProgressParser();
    const blocks = REPORT.split('\n').flatMap((l) => p.push(l) ?? []);
    expect(blocks).toEqual([
      { frame: 1, outTimeUs: 0, end: false },
      { frame: 61, speed: 1.36, end: false },
      { frame: 120, outTimeUs: 3900065, speed: 2.21, end: true },
    ]);
  });

  it('ignores lines that are not key=value and values that are not numbers', () => {
    const p = new ProgressParser();
    for (const l of ['', 'garbage', '=x', 'frame=12abc', 'out_time_us=-5', `frame=${'9'.repeat(40)}`]) expect(p.push(l)).toBeNull();
    expect(p.push('progress=continue')).toEqual({ frame: 0, end: false });
  });

  it('keeps a bounded number of keys per block, whatever the stream sends', () => {
    const p = new ProgressParser();
    for (let i = 0; i < 10_000; i++) p.push(`k${i}=1`);
    p.push('frame=7');
    expect(p.push('progress=continue')).toEqual({ frame: 0, end: false });
    p.push('frame=8');
    expect(p.push('progress=end')).toEqual({ frame: 8, end: true });
  });
});
