import { describe, expect, it } from 'vitest';
import { clientMessageSchema, parseMessage, PROTOCOL_VERSION, serverMessageSchema } from './protocol.js';

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
    const hb = { type: 'heartbeat', id: 'h', leaseId: 't', token: 'k', progress: 1.5, stage: 'transcoding' };
    expect(parseMessage(clientMessageSchema, JSON.stringify(hb)).ok).toBe(false);
    expect(parseMessage(clientMessageSchema, JSON.stringify({ ...hb, progress: 0.5 })).ok).toBe(true);
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

  it('validates an assignment, including odd sizes and unknown renditions', () => {
    const assign = {
      type: 'assign',
      id: 's1',
      leaseId: 't1',
      token: 'tok',
      attempt: 1,
      jobId: 'j',
      chunk: 0,
      input: { url: 'http://127.0.0.1:8000/storage/a?X-Amz-Signature=1', size: 100 },
      output: { url: 'http://127.0.0.1:8000/storage/b?X-Amz-Signature=2', contentType: 'video/mp4' },
      params,
    };
    expect(parseMessage(serverMessageSchema, JSON.stringify(assign)).ok).toBe(true);
    expect(parseMessage(serverMessageSchema, JSON.stringify({ ...assign, params: { ...params, width: 853 } })).ok).toBe(false);
    expect(parseMessage(serverMessageSchema, JSON.stringify({ ...assign, params: { ...params, rendition: '9000p' } })).ok).toBe(false);
    expect(parseMessage(serverMessageSchema, JSON.stringify({ ...assign, input: { url: 'not a url', size: 1 } })).ok).toBe(false);
  });
});
