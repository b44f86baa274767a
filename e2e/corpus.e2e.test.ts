/**
 * Real-world sources end to end: a real coordinator, the generated corpus
 * (coordinator/src/media/test-corpus.ts: portrait phone, 29.97 with
 * B-frames, VP9/Opus WebM, no audio, sparse keyframes, VFR, HEVC 10-bit,
 * 4:2:2, interlaced, odd size, SAR 64:45, 5.1, AV1), every output checked
 * with ffprobe. Segments are transcoded by the scripted native worker (the
 * tab's exact x264 arguments) to keep this fast, and the portrait clip once
 * more by a real Chromium tab. Bad inputs are refused in words while the
 * coordinator keeps serving.
 */
import { execFile } from 'node:child_process';
import { copyFile, truncate, writeFile, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planLadder, type CreatedJob, type JobView, type RenditionName } from '@tabgrid/shared';
import { analyzeSource, makeMezzanine } from '@tabgrid/coordinator/src/media/normalize.js';
import { countPackets } from '@tabgrid/coordinator/src/media/split.js';
import { probeSource } from '@tabgrid/coordinator/src/media/probe.js';
import { corpusCases, makeCorpus, type CorpusCase } from '@tabgrid/coordinator/src/media/test-corpus.js';
import { refusal, submitFile, waitForJob } from './support/api.js';
import { launchChromium, openContributorTabs, watchConsole, type Browser } from './support/browser.js';
import { removeDir, startCoordinatorProcess, tempDir, type CoordinatorProcess } from './support/coordinator-process.js';
import { probe } from './support/media.js';
import { ProtocolClient } from './support/protocol-client.js';
import { verifyOutputs } from './support/verify-output.js';

const run = promisify(execFile);
const tools = { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };
const RENDITIONS: RenditionName[] = ['360p', '240p'];
const CHUNK_SECONDS = 4;
const MAX_DURATION_SECONDS = 30;

let dir: string;
let cases: CorpusCase[];
let coordinator: CoordinatorProcess;
let files: Server;
let filesUrl: string;

beforeAll(async () => {
  dir = await tempDir('corpus');
  cases = corpusCases(dir);
  await makeCorpus(cases);
  coordinator = await startCoordinatorProcess({
    name: 'corpus',
    // Sources by URL come from a loopback server below: a lab's setting (public addresses only by default).
    env: { CHUNK_SECONDS: String(CHUNK_SECONDS), MAX_DURATION_SECONDS: String(MAX_DURATION_SECONDS), ALLOW_PRIVATE_SOURCE_URLS: 'true' },
  });
  // Sources by URL come from here.
  files = createServer((req, res) => {
    const file = path.join(dir, path.basename(decodeURIComponent(req.url ?? '')));
    stat(file).then(
      (s) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': s.size });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  files?.closeAllConnections();
  await new Promise((r) => files?.close(r));
  await coordinator?.stop();
  await removeDir(coordinator?.dataDir);
  await removeDir(dir);
});

async function submitByUrl(file: string): Promise<CreatedJob> {
  return coordinator.api.submitUrl(`${filesUrl}/${path.basename(file)}`, { renditions: RENDITIONS });
}

async function streamStarts(file: string): Promise<{ video: number; audio: number | null }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,start_time', '-of', 'json', file]);
  const streams = (JSON.parse(stdout) as { streams: { codec_type: string; start_time: string }[] }).streams;
  const a = streams.find((s) => s.codec_type === 'audio');
  return { video: Number(streams.find((s) => s.codec_type === 'video')!.start_time), audio: a ? Number(a.start_time) : null };
}

/**
 * Where the video stream ends (last packet's end), from the file's start (audio priming ignored): the
 * normalised video covers that span, late-starting video padded with its first frame.
 */
async function videoSpan(file: string): Promise<number> {
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const packets = stdout
    .trim()
    .split('\n')
    .map((l) => l.split(',').map(Number) as [number, number]);
  const { stdout: fmt } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=start_time', '-of', 'csv=p=0', file]);
  const start = Math.max(0, Number(fmt.trim()) || 0);
  return Math.max(...packets.map((p) => p[0] + (Number.isFinite(p[1]) ? p[1] : 0))) - start;
}

/** Matroska keeps stream durations in a DURATION tag, not in the stream header. */
async function audioDuration(file: string): Promise<number | null> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'a:0',
    '-show_entries',
    'stream=duration:stream_tags=DURATION',
    '-of',
    'json',
    file,
  ]);
  const s = (JSON.parse(stdout) as { streams: { duration?: string; tags?: { DURATION?: string } }[] }).streams[0];
  if (!s) return null;
  if (s.duration !== undefined && Number.isFinite(Number(s.duration))) return Number(s.duration);
  const [h, m, sec] = (s.tags?.DURATION ?? '0:0:0').split(':').map(Number);
  return h! * 3600 + m! * 60 + sec!;
}

/** Every output of a finished job against what its source should give. */
async function checkCase(c: CorpusCase, job: JobView): Promise<string> {
  expect(job.error, c.name).toBeNull();
  expect(job.state, c.name).toBe('done');
  const geometry = await probeSource(tools, c.file);
  const analysis = await analyzeSource(tools, c.file, CHUNK_SECONDS);
  expect(analysis.reasons, c.name).toEqual(c.reasons);
  expect(job.source.normalized, `${c.name}: normalisation in the API`).toEqual(c.reasons);
  const facts = await probe(c.file);
  const [n, d = 1] = analysis.frameRate.split('/').map(Number);
  const fps = n! / d;
  // The normalised source: as is, or constant at its rate for its duration.
  // (normalize.test.ts checks the mezzanine is duration × rate within a frame; a VFR source's last frame has no
  // well-defined duration in Matroska, so the exact count is the mezzanine's own.)
  let frames = facts.frames;
  if (c.reasons.length) {
    const mezzanine = path.join(dir, `${path.basename(c.file)}.mezzanine.mkv`);
    await makeMezzanine(tools, c.file, mezzanine, {
      frameRate: analysis.frameRate,
      chunkSeconds: CHUNK_SECONDS,
      interlaced: c.reasons.includes('interlaced'),
      oddSize: geometry.width % 2 === 1 || geometry.height % 2 === 1,
    });
    frames = (await countPackets(tools, mezzanine)).frames;
    expect(
      Math.abs(frames - (await videoSpan(c.file)) * fps),
      `${c.name} normalised frames (the last frame's duration is ambiguous)`,
    ).toBeLessThanOrEqual(1.5);
  }
  const expected = planLadder(geometry, RENDITIONS).map((r) => ({ rendition: r.name, width: r.width, height: r.height }));
  const out = await verifyOutputs(job, {
    baseUrl: coordinator.url,
    source: { ...facts, frames, duration: geometry.duration, audioDuration: await audioDuration(c.file) },
    expected,
    dir,
  });
  const displayAspect = (geometry.width * geometry.sarNum) / geometry.sarDen / geometry.height;
  const wantAspect = geometry.rotation % 180 === 90 ? 1 / displayAspect : displayAspect;
  for (const e of expected) {
    const o = out[e.rendition]!;
    expect(o.height > o.width, `${c.name} ${e.rendition} orientation`).toBe(c.portrait || (!c.portrait && wantAspect < 1));
    expect(Math.abs(o.width / o.height / wantAspect - 1), `${c.name} ${e.rendition} aspect`).toBeLessThan(0.02);
    const starts = await streamStarts(path.join(dir, `${job.id}_${e.rendition}.mp4`));
    if (starts.audio !== null)
      expect(Math.abs(starts.audio - starts.video), `${c.name} ${e.rendition} A/V start`).toBeLessThanOrEqual(1 / fps);
  }
  return `${c.name}: ${frames} frames${c.reasons.length ? ` (mezzanine: ${c.reasons.join(', ')})` : ''} → ${expected.map((e) => `${e.width}x${e.height}`).join(', ')}`;
}

describe('real-world sources', () => {
  it('every kind comes out frame-exact, upright and in sync on every rung (scripted native worker)', async () => {
    const ids = new Map<CorpusCase, string>();
    for (const c of cases) {
      // The WebM comes by URL, the rest as uploads.
      // Only the API's 201 resolves; a refusal names the case and carries the API's words.
      const created = await (c.file.endsWith('.webm')
        ? submitByUrl(c.file)
        : submitFile(coordinator.api, c.file, { renditions: RENDITIONS })
      ).catch((e: Error) => {
        throw new Error(`${c.name}: ${e.message}`, { cause: e });
      });
      ids.set(c, created.id);
    }
    const worker = new ProtocolClient(coordinator.url);
    await worker.connect();
    await worker.hello();
    let done = false;
    const working = worker.work(() => done);
    const lines: string[] = [];
    try {
      const failures: string[] = [];
      for (const [c, id] of ids) {
        const job = await waitForJob(coordinator.api, id, { timeoutMs: 240_000 });
        // Check them all, then report every failure at once.
        lines.push(
          await checkCase(c, job).catch((err: Error) => {
            failures.push(`${c.name}: ${err.message}`);
            return `${c.name}: FAILED`;
          }),
        );
      }
      expect(failures).toEqual([]);
    } finally {
      done = true;
      await working;
      worker.close();
    }
    console.log(lines.join('\n'));
  }, 400_000);

  it('the portrait phone clip stays portrait through a real Chromium tab', async () => {
    const c = cases.find((x) => x.portrait)!;
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const [tab] = await openContributorTabs(browser, coordinator.url, 1);
      const errors = watchConsole(tab!);
      const { id } = await submitFile(coordinator.api, c.file, { renditions: RENDITIONS }); // only a 201 resolves
      const job = await waitForJob(coordinator.api, id, { timeoutMs: 240_000 });
      console.log(await checkCase(c, job));
      expect(job.outputs.every((o) => o.height > o.width)).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await browser?.close();
    }
  }, 300_000);

  it('refuses bad inputs in words and keeps serving', async () => {
    const refused = async (file: string, status: number, message: RegExp) => {
      const error = await refusal(submitFile(coordinator.api, file));
      expect(error.status, `${path.basename(file)}: ${error.code}: ${error.message}`).toBe(status);
      // The API's own message: without its error body the client says only "HTTP <status>".
      expect(error.message).toMatch(message);
    };
    const empty = path.join(dir, 'empty.mp4');
    await writeFile(empty, '');
    await refused(empty, 422, /empty \(0 bytes\)|not a decodable video/);

    const image = path.join(dir, 'still.png');
    await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x180', '-frames:v', '1', image]);
    await refused(image, 422, /still image|not a decodable video/);

    const audioOnly = path.join(dir, 'tone.m4a');
    await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '2', '-c:a', 'aac', audioOnly]);
    await refused(audioOnly, 422, /no video stream \(found: audio\)/);

    // An MP4 cut short loses its index (moov at the end): refused at upload.
    const truncated = path.join(dir, 'truncated.mp4');
    await copyFile(cases.find((x) => x.file.endsWith('silent.mp4'))!.file, truncated);
    await truncate(truncated, Math.floor((await stat(truncated)).size / 2));
    await refused(truncated, 422, /not a decodable video/);

    // A Matroska file cut short still probes (its header says 6 s): accepted, then the job fails in words.
    const whole = path.join(dir, 'whole.mkv');
    await run('ffmpeg', ['-v', 'error', '-y', '-i', cases.find((x) => x.file.endsWith('ntsc-bframes.mp4'))!.file, '-c', 'copy', whole]);
    const cut = path.join(dir, 'cut.mkv');
    await copyFile(whole, cut);
    await truncate(cut, Math.floor((await stat(cut)).size * 0.6));
    const cutCreated = await submitFile(coordinator.api, cut); // only a 201 resolves
    const cutJob = await waitForJob(coordinator.api, cutCreated.id, { timeoutMs: 60_000 });
    expect(cutJob.state).toBe('failed');
    expect(cutJob.error).toMatch(/cut short or damaged/);

    const long = path.join(dir, 'long.mp4');
    await run('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'color=size=64x64:rate=5',
      '-t',
      String(MAX_DURATION_SECONDS + 5),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      long,
    ]);
    await refused(long, 422, /over the limit of 30 s \(MAX_DURATION_SECONDS\)/);

    // A hostile source URL, sent raw: this checks the HTTP boundary itself, not a use of the API.
    const byUrl = await fetch(`${coordinator.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'file:///etc/passwd' }),
    });
    expect(byUrl.status).toBe(400);
    const missing = await refusal(coordinator.api.submitUrl(`${filesUrl}/nothing.mp4`));
    expect(missing.status).toBe(422);

    // Still serving.
    const ok = await submitFile(coordinator.api, cases[0]!.file, { renditions: ['240p'] }); // only a 201 resolves
    expect(ok.state).toBe('queued');
  }, 120_000);
});
