/**
 * Workers that lie about their work, against a real coordinator process on
 * the real PostgreSQL. Scripted liars, each from an address of its own, take
 * the first tasks of a job and answer with forged segments made from the very
 * chunk they were given (coordinator/src/media/segment-forgery.ts): black
 * frames, a box drawn over part of the picture, the wrong rung; another does
 * honest work, has it accepted, then PUTs black frames over it through its
 * still-valid URL. Honest workers then join. Every time the job ends `done`,
 * every output shows the source (PSNR against the source, frame by frame),
 * and every liar is quarantined.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { type Forgery, forgeSegment } from '@tabgrid/coordinator/src/media/segment-forgery.js';
import type { RungLease, JobView } from '@tabgrid/shared';
import { ProtocolClient, type Segment } from '../support/protocol-client.js';
import { ScenarioReport } from '../support/report.js';
import { FAULT_ENV, FAULT_EXPECTED, coordinatorOnFreshDatabase, faultClip, finishAndVerify, submit } from './harness.js';

const run = promisify(execFile);

/** PSNR of an output against the source scaled to its size, frames paired by index: [average, worst frame]. */
async function psnrAgainstSource(output: string, source: string, width: number, height: number): Promise<[number, number]> {
  const byIndex = 'settb=1/1000,setpts=N*40';
  const stats = `${output}.psnr.log`;
  const { stderr } = await run('ffmpeg', [
    '-v',
    'info',
    '-nostdin',
    '-i',
    output,
    '-i',
    source,
    '-lavfi',
    `[0:v]${byIndex},format=yuv420p[o];[1:v]${byIndex},scale=${width}:${height},format=yuv420p[s];[o][s]psnr=stats_file=${stats}`,
    '-f',
    'null',
    '-',
  ]);
  const perFrame = (await readFile(stats, 'utf8')).split('\n').filter(Boolean);
  const frames = perFrame.map((l) => /psnr_avg:([\d.]+|inf)/.exec(l)?.[1]).map((v) => (v === 'inf' ? 100 : Number(v)));
  await rm(stats, { force: true });
  expect(frames.length, 'one PSNR per frame').toBeGreaterThan(0);
  const average = Number(/PSNR .*average:([\d.]+|inf)/.exec(stderr)?.[1] ?? Number.NaN);
  return [average, Math.min(...frames)];
}

describe('lying workers', () => {
  const fx = coordinatorOnFreshDatabase('liars', { ...FAULT_ENV });
  const clients: ProtocolClient[] = [];
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    for (const c of clients.splice(0)) {
      try {
        c.close();
      } catch {
        // never connected
      }
    }
  });

  async function connect(address: string): Promise<ProtocolClient> {
    const c = new ProtocolClient(fx.coordinator.url, { localAddress: address });
    clients.push(c);
    await c.connect();
    await c.hello();
    return c;
  }

  /** The chunk of an assignment on local disk. */
  async function fetchChunk(assign: RungLease, file: string): Promise<void> {
    const res = await fetch(assign.input.url);
    expect(res.status, 'GET chunk').toBe(200);
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
  }

  /** A segment of kind `kind` for the assignment, made from its own chunk. */
  async function forged(assign: RungLease, kind: Forgery): Promise<Segment> {
    const chunk = path.join(fx.dir, `${assign.leaseId}.mkv`);
    const out = path.join(fx.dir, `${assign.leaseId}.${kind}.mp4`);
    try {
      await fetchChunk(assign, chunk);
      await forgeSegment({ kind, chunk, params: assign.params, out });
      const bytes = await readFile(out);
      return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
    } finally {
      await rm(chunk, { force: true });
      await rm(out, { force: true });
    }
  }

  /** An honest worker that transcodes whatever it is given until stopped. */
  async function honest(address: string): Promise<void> {
    const worker = await connect(address);
    let stop = false;
    const working = worker.work(() => stop);
    stops.push(async () => {
      stop = true;
      await working.catch(() => undefined);
      worker.close();
    });
  }

  async function quarantined(workerId: string): Promise<boolean> {
    const { workers } = await fx.coordinator.api.workers();
    return (workers.find((w) => w.id === workerId)?.quarantinedUntil ?? null) !== null;
  }

  async function expectOutputsShowTheSource(job: JobView, source: string, report: ScenarioReport): Promise<void> {
    for (const want of FAULT_EXPECTED) {
      const file = path.join(fx.dir, `${job.id}_${want.rendition}.mp4`);
      const [average, worst] = await psnrAgainstSource(file, source, want.width, want.height);
      expect(average, `${want.rendition}: average PSNR against the source`).toBeGreaterThan(30);
      expect(worst, `${want.rendition}: worst frame's PSNR against the source`).toBeGreaterThan(25);
      report.verified(`${want.rendition} shows the source: PSNR ${average.toFixed(1)} dB on average, worst frame ${worst.toFixed(1)} dB`);
    }
  }

  it('black frames, a tampered picture and the wrong rung are refused, their workers quarantined, and the job is done right', async () => {
    const report = new ScenarioReport('workers lying about their segments');
    const { file, facts } = await faultClip(fx.dir);
    const liars: { kind: Forgery; address: string; client?: ProtocolClient; answers: string[] }[] = [
      { kind: 'black', address: '127.0.0.11', answers: [] },
      { kind: 'tampered', address: '127.0.0.12', answers: [] },
      { kind: 'wrong-rung', address: '127.0.0.13', answers: [] },
    ];
    for (const liar of liars) liar.client = await connect(liar.address);
    const id = await submit(fx.coordinator.api, file);
    // Each liar lies about whatever it is given until it is given nothing more.
    const lying = liars.map(async (liar) => {
      for (;;) {
        const assign = await liar.client!.nextLease(() => true, 8_000).catch(() => undefined);
        if (!assign) return;
        const segment = await forged(assign, liar.kind);
        expect(await liar.client!.upload(assign, segment)).toBe(200);
        const verdict = await liar.client!.complete(assign, segment);
        liar.answers.push(verdict.accepted ? 'accepted' : `refused (${verdict.reason})`);
      }
    });
    // Let the liars take and answer the first tasks alone.
    await expect.poll(() => liars.every((l) => l.answers.length > 0), { timeout: 60_000 }).toBe(true);
    for (const liar of liars) {
      expect(
        liar.answers.every((a) => a.startsWith('refused')),
        `${liar.kind}: ${liar.answers.join('; ')}`,
      ).toBe(true);
      report.injected(`${liar.kind} segments from ${liar.address}: ${liar.answers.join('; ')}`);
    }
    await honest('127.0.0.21');
    await honest('127.0.0.22');
    const job = await finishAndVerify({ api: fx.coordinator.api, id, source: facts, dir: fx.dir, report });
    await Promise.all(lying);
    await expectOutputsShowTheSource(job, file, report);
    for (const liar of liars) {
      await expect.poll(() => quarantined(liar.client!.workerId), { timeout: 20_000 }).toBe(true);
    }
    report.verified('every liar is quarantined');
    expect((await fx.coordinator.api.health()).ok).toBe(true);
    report.print();
  }, 240_000);

  it('black frames PUT over an accepted segment through its still-valid URL never reach the output', async () => {
    const report = new ScenarioReport('overwrite after acceptance');
    const { file, facts } = await faultClip(fx.dir);
    const sly = await connect('127.0.0.31');
    const id = await submit(fx.coordinator.api, file);
    const assign = await sly.nextLease(() => true, 60_000);
    const segment = await sly.transcode(assign);
    expect(await sly.upload(assign, segment)).toBe(200);
    const verdict = await sly.complete(assign, segment);
    expect(verdict.accepted, `the honest segment is accepted: ${verdict.reason ?? ''}`).toBe(true);
    const black = await forged(assign, 'black');
    const overwrite = await sly.upload(assign, black);
    report.injected(`after acceptance, black frames PUT to the same URL: HTTP ${overwrite}`);
    sly.close();
    await honest('127.0.0.32');
    const job = await finishAndVerify({ api: fx.coordinator.api, id, source: facts, dir: fx.dir, report });
    await expectOutputsShowTheSource(job, file, report);
    report.verified('the merged outputs were made from the bytes that were checked, not the overwrite');
    report.print();
  }, 240_000);
});
