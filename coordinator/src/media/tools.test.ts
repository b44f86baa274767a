/**
 * Every native tool run is bounded by time, output and memory, and a run
 * stopped at a limit says which one. The memory ceiling is prlimit's
 * (util-linux, on Debian by default): the default leaves room for the
 * heaviest server-side run at the largest source the limits accept (a
 * 4096×3072 mezzanine), and stops a decode that wants more.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaToolError, ToolLimitError } from '../errors.js';
import { makeMezzanine } from './normalize.js';
import { makeManyPackets } from './pathological-corpus.js';
import { defaultToolMemoryMiB, prlimitBinary, runTool } from './tools.js';

const run = promisify(execFile);
let dir: string;
const file = (name: string) => path.join(dir, name);
const MiB = 1024 * 1024;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tabgrid-tools-'));
  await makeManyPackets(file('packets.mkv'), 20_000);
  // The largest picture the source limits accept (4096×3072), half a second (past x264's lookahead).
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=4096x3072:rate=30',
    '-t',
    '0.5',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    file('max.mp4'),
  ]);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('runTool', () => {
  it('stops a tool over its output limit instead of collecting it', async () => {
    const perPacket = ['-v', 'error', '-show_entries', 'packet=pts_time,flags', '-of', 'json', file('packets.mkv')];
    const err = await failure(runTool('ffprobe', perPacket, { timeoutMs: 60_000, maxOutputBytes: 64 * 1024 }));
    expect(err).toBeInstanceOf(ToolLimitError);
    expect((err as ToolLimitError).limit).toBe('output');
    expect(err.message).toMatch(/^ffprobe: printed more than 65536 bytes \(its output limit for this run\)/);
    // The same run with room succeeds: it was the cap, not the file.
    expect((await runTool('ffprobe', perPacket, { timeoutMs: 60_000 })).stdout.length).toBeGreaterThan(64 * 1024);
  });

  it('stops a tool at its time limit', async () => {
    const endless = ['-v', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=10', '-f', 'null', '-'];
    const err = await failure(runTool('ffmpeg', endless, { timeoutMs: 500 }));
    expect(err).toBeInstanceOf(ToolLimitError);
    expect((err as ToolLimitError).limit).toBe('time');
    expect(err.message).toBe('ffmpeg: stopped after 0.5 s (its time limit for this run)');
  }, 10_000);

  it('streams stdout line by line, and a throw from the reader stops the tool with that error', async () => {
    let lines = 0;
    const args = ['-v', 'error', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file('packets.mkv')];
    await runTool('ffprobe', args, { timeoutMs: 60_000, maxOutputBytes: 10, onStdoutLine: () => lines++ });
    // Streamed lines are not collected, so the output cap does not apply to them.
    expect(lines).toBe(20_160);
    const stop = new Error('enough');
    let seen = 0;
    const err = await failure(
      runTool('ffprobe', args, {
        timeoutMs: 60_000,
        onStdoutLine: () => {
          if (++seen === 100) throw stop;
        },
      }),
    );
    expect(err).toBe(stop);
    expect(seen).toBeLessThan(20_160);
  });

  it('says a missing binary is missing, and a failing run is not a limit', async () => {
    const missing = await failure(runTool('/nonexistent/ffmpeg', ['-version'], { timeoutMs: 5000 }));
    expect(missing).toBeInstanceOf(MediaToolError);
    expect(missing.message).toMatch(/not found; install it/);
    const bad = await failure(runTool('ffprobe', ['-v', 'error', file('nothing.mp4')], { timeoutMs: 5000 }));
    expect(bad).toBeInstanceOf(MediaToolError);
    expect(bad).not.toBeInstanceOf(ToolLimitError);
  });
});

describe.runIf(prlimitBinary())('the memory ceiling (prlimit)', () => {
  it('fails a decode that needs more than its ceiling, saying so', async () => {
    const decode = ['-v', 'error', '-nostdin', '-i', file('max.mp4'), '-f', 'null', '-'];
    const err = await failure(runTool('ffmpeg', decode, { timeoutMs: 60_000, memoryBytes: 300 * MiB }));
    expect(err).toBeInstanceOf(ToolLimitError);
    expect((err as ToolLimitError).limit).toBe('memory');
    expect(err.message).toMatch(/^ffmpeg: ran out of its memory ceiling of 300 MiB \(TOOL_MEMORY_LIMIT_MB\)/);
  });

  it('leaves room, by default, for the x264 mezzanine of the largest source the limits accept', async () => {
    expect(defaultToolMemoryMiB()).toBeGreaterThanOrEqual(1024);
    await makeMezzanine({ ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' }, file('max.mp4'), file('max-mezzanine.mkv'), {
      frameRate: '30',
      chunkSeconds: 1,
      interlaced: false,
      oddSize: false,
    });
  }, 60_000);
});
