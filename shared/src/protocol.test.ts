import { describe, expect, it } from 'vitest';
import {
  clientMessageSchema,
  helloProtocol,
  MAX_LEASES_HELD,
  MAX_RUNGS_PER_ASSIGN,
  parseMessage,
  PROTOCOL_VERSION,
  serverMessageSchema,
} from './protocol.js';

const hello = {
  type: 'hello',
  id: 'c1',
  protocol: PROTOCOL_VERSION,
  credential: 'wAbCdEfGh1234567.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG',
  capabilities: { encoders: ['wasm-x264'], threads: 1, wasmMultiThread: false },
};
const welcome = {
  type: 'welcome',
  id: 's1',
  replyTo: 'c1',
  protocol: PROTOCOL_VERSION,
  workerId: 'wAbCdEfGh1234567',
  credential: hello.credential,
  leaseTtlSeconds: 30,
  heartbeatIntervalSeconds: 10,
};
const params = {
  rendition: '480p',
  codec: 'h264',
  width: 854,
  height: 480,
  rotation: 0,
  crf: 23,
  maxrateKbps: 1500,
  bufsizeKbps: 3000,
  preset: 'veryfast',
  frames: 120,
};

describe('client messages', () => {
  it('accepts well-formed messages', () => {
    expect(parseMessage(clientMessageSchema, JSON.stringify(hello))).toMatchObject({ ok: true });
    const complete = { type: 'complete', id: 'c2', leaseId: 't1', token: 'tok', size: 10, sha256: 'a'.repeat(64) };
    expect(parseMessage(clientMessageSchema, JSON.stringify(complete))).toMatchObject({ ok: true, message: complete });
  });

  it('never throws on garbage and says what is wrong', () => {
    expect(parseMessage(clientMessageSchema, 'not json')).toEqual({ ok: false, error: 'message is not valid JSON' });
    expect(parseMessage(clientMessageSchema, '[]')).toMatchObject({ ok: false });
    const r = parseMessage(
      clientMessageSchema,
      JSON.stringify({ type: 'complete', id: 'c3', leaseId: 't1', token: 'tok', size: -1, sha256: 'xyz' }),
    );
    expect(r).toMatchObject({ ok: false, id: 'c3' });
    expect(r.ok === false && r.error).toMatch(/size/);
    expect(r.ok === false && r.error).toMatch(/sha256/);
  });

  it('rejects unknown message types, oversized credentials and bad capabilities', () => {
    expect(parseMessage(clientMessageSchema, JSON.stringify({ type: 'steal', id: 'x' })).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, credential: 'x'.repeat(257) })).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, credential: '' })).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, credential: 42 })).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, capabilities: { ...hello.capabilities, threads: 0 } })).ok).toBe(
      false,
    );
  });

  it('protocol 2: a hello names no worker; an id the tab chooses is dropped, never read', () => {
    const { credential: _, ...first } = hello;
    const parsed = parseMessage(clientMessageSchema, JSON.stringify({ ...first, workerId: 'chosen_by_tab' }));
    expect(parsed).toMatchObject({ ok: true });
    expect(parsed.ok && parsed.message).not.toHaveProperty('workerId');
    expect(parsed.ok && parsed.message).not.toHaveProperty('credential');
  });

  it('bounds progress to 0..1', () => {
    const hb = { type: 'heartbeat', id: 'h', leases: [{ leaseId: 't', token: 'k' }], progress: 1.5, stage: 'transcoding' };
    expect(parseMessage(clientMessageSchema, JSON.stringify(hb)).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hb, progress: 0.5 })).ok).toBe(true);
  });

  it('protocol 3: one heartbeat names a batch of leases, each once, at most a batch of them', () => {
    const leases = (n: number) => Array.from({ length: n }, (_, i) => ({ leaseId: `t${i}`, token: `k${i}` }));
    const hb = (l: unknown) => JSON.stringify({ type: 'heartbeat', id: 'h', leases: l, progress: 0.5, stage: 'transcoding' });
    expect(parseMessage(clientMessageSchema, hb(leases(3))).ok).toBe(true);
    expect(parseMessage(clientMessageSchema, hb(leases(MAX_RUNGS_PER_ASSIGN))).ok).toBe(true);
    expect(parseMessage(clientMessageSchema, hb(leases(MAX_RUNGS_PER_ASSIGN + 1))).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, hb([])).ok).toBe(false);
    const twice = parseMessage(clientMessageSchema, hb([...leases(2), { leaseId: 't0', token: 'other' }]));
    expect(twice).toMatchObject({ ok: false, id: 'h' });
    expect(twice.ok === false && twice.error).toMatch(/twice/);
    // The protocol 2 shape (one lease at the top level) is not a heartbeat any more.
    expect(
      parseMessage(
        clientMessageSchema,
        JSON.stringify({ type: 'heartbeat', id: 'h', leaseId: 't', token: 'k', progress: 0, stage: 'uploading' }),
      ).ok,
    ).toBe(false);
  });

  it('protocol 3: a hello resumes a bounded list of distinct leases', () => {
    const leases = (n: number) => Array.from({ length: n }, (_, i) => ({ leaseId: `t${i}`, token: `k${i}` }));
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, resume: leases(2) })).ok).toBe(true);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, resume: leases(MAX_LEASES_HELD + 1) })).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, resume: [] })).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, resume: [...leases(1), ...leases(1)] })).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, capabilities: { ...hello.capabilities, maxRungs: 3 } })).ok).toBe(
      true,
    );
    for (const maxRungs of [0, MAX_RUNGS_PER_ASSIGN + 1, 1.5]) {
      expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hello, capabilities: { ...hello.capabilities, maxRungs } })).ok).toBe(
        false,
      );
    }
  });

  it('reads the version of any hello, even one this version refuses, and of nothing else', () => {
    const v2 = { ...hello, protocol: 2, resume: { leaseId: 't1', token: 'k' } };
    expect(parseMessage(clientMessageSchema, JSON.stringify(v2)).ok).toBe(false);
    expect(helloProtocol(JSON.stringify(v2))).toBe(2);
    expect(helloProtocol(JSON.stringify(hello))).toBe(PROTOCOL_VERSION);
    expect(helloProtocol(JSON.stringify({ type: 'complete', protocol: 2 }))).toBeUndefined();
    expect(helloProtocol('{"type":"hello","protocol":"2"}')).toBeUndefined();
    expect(helloProtocol('not json')).toBeUndefined();
  });
});

describe('server messages', () => {
  it('a welcome carries the issued id (safe characters only) and a credential', () => {
    expect(parseMessage(serverMessageSchema, JSON.stringify(welcome)).ok).toBe(true);
    expect(parseMessage(serverMessageSchema, JSON.stringify({ ...welcome, workerId: '../../etc' })).ok).toBe(false);
    const { credential: _, ...withoutCredential } = welcome;
    expect(parseMessage(serverMessageSchema, JSON.stringify(withoutCredential)).ok).toBe(false);
    expect(parseMessage(serverMessageSchema, JSON.stringify({ ...welcome, protocol: 1 })).ok).toBe(false);
  });

  const rung = (n: number, over: Record<string, unknown> = {}) => ({
    leaseId: `t${n}`,
    token: `tok${n}`,
    attempt: 1,
    output: { url: `http://127.0.0.1:8000/storage/b${n}?X-Amz-Signature=2`, contentType: 'video/mp4' },
    params,
    ...over,
  });
  const assign = (rungs: unknown[]) => ({
    type: 'assign',
    id: 's1',
    jobId: 'j',
    chunk: 0,
    input: { url: 'http://127.0.0.1:8000/storage/a?X-Amz-Signature=1', size: 100 },
    rungs,
  });
  const ok = (m: unknown) => parseMessage(serverMessageSchema, JSON.stringify(m)).ok;
  const r720 = { ...params, rendition: '720p', width: 1280, height: 720 };
  const r360 = { ...params, rendition: '360p', width: 640, height: 360 };

  it('validates an assignment, including odd sizes and unknown renditions', () => {
    expect(ok(assign([rung(1)]))).toBe(true);
    expect(ok(assign([rung(1, { params: { ...params, width: 853 } })]))).toBe(false);
    expect(ok(assign([rung(1, { params: { ...params, rendition: '9000p' } })]))).toBe(false);
    expect(ok({ ...assign([rung(1)]), input: { url: 'not a url', size: 1 } })).toBe(false);
    expect(ok(assign([rung(1, { output: { url: 'not a url', contentType: 'video/mp4' } })]))).toBe(false);
  });

  it('protocol 3: several rungs of one chunk, each its own lease', () => {
    expect(ok(assign([rung(1, { params: r720 }), rung(2), rung(3, { params: r360 })]))).toBe(true);
  });

  it('protocol 3, hostile batches: empty, over the maximum, a lease or rendition twice, rungs of different chunks or encoders', () => {
    const renditions = ['2160p', '1440p', '1080p', '720p', '480p', '360p', '240p'];
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => rung(i, { params: { ...params, rendition: renditions[i % renditions.length] } }));
    expect(ok(assign([]))).toBe(false);
    expect(ok(assign(many(renditions.length)))).toBe(true);
    expect(ok(assign(many(MAX_RUNGS_PER_ASSIGN + 1)))).toBe(false);
    // Same lease id twice, even with different renditions.
    expect(ok(assign([rung(1, { params: r720 }), rung(1)]))).toBe(false);
    // One rendition twice under two leases.
    expect(ok(assign([rung(1), rung(2)]))).toBe(false);
    // Mixed chunks: the rungs disagree on the frame count or the rotation.
    expect(ok(assign([rung(1, { params: r720 }), rung(2, { params: { ...params, frames: 119 } })]))).toBe(false);
    expect(ok(assign([rung(1, { params: r720 }), rung(2, { params: { ...params, rotation: 90 } })]))).toBe(false);
    // Mixed encoders: one batch is encoded by one transcoder.
    const wc = (p: typeof params) => ({ ...p, encoder: 'webcodecs', bitrateKbps: 1000 });
    expect(ok(assign([rung(1, { params: wc(r720) }), rung(2, { params: wc(params) })]))).toBe(true);
    expect(ok(assign([rung(1, { params: wc(r720) }), rung(2)]))).toBe(false);
    expect(ok(assign([rung(1, { params: r720 }), rung(2, { params: { ...params, encoder: 'x264' } })]))).toBe(true);
    // The protocol 2 shape (one lease at the top level, no rungs).
    const { rungs: _, ...bare } = assign([]);
    expect(ok({ ...bare, ...rung(1) })).toBe(false);
  });
});
