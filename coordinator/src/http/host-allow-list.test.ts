import os from 'node:os';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { MisdirectedRequestError } from '../errors.js';
import { createHostAllowList, hostCheck, normalizeHost } from './host-allow-list.js';

const local = { publicUrl: undefined, host: '127.0.0.1', port: 8000 };

describe('normalizeHost', () => {
  it('lower-cases, drops a trailing dot, fills in the default port and writes IPv6 canonically', () => {
    expect(normalizeHost('LocalHost:8000', 80)).toBe('localhost:8000');
    expect(normalizeHost('grid.example.', 443)).toBe('grid.example:443');
    expect(normalizeHost('[0:0:0:0:0:0:0:1]:8000', 80)).toBe('[::1]:8000');
  });

  it('refuses what is not a Host header', () => {
    for (const bad of [
      '',
      ' ',
      'a b',
      'evil.example/x',
      'user@host',
      'host:99999',
      'host:0',
      'host:',
      '[::1',
      '-lead.example',
      'xxxxx:8000:1',
    ]) {
      expect(normalizeHost(bad, 80), bad).toBeUndefined();
    }
  });
});

describe('createHostAllowList', () => {
  it('without PUBLIC_URL: the loopback names and the listen address, at the port the connection came in on', () => {
    const hosts = createHostAllowList(local);
    for (const ok of ['localhost:8000', '127.0.0.1:8000', '[::1]:8000', 'LOCALHOST:8000']) expect(hosts.allows(ok), ok).toBe(true);
    for (const bad of ['evil.example:8000', 'localhost', 'localhost:8001', '127.0.0.2:8000', '10.0.0.5:8000', undefined, '']) {
      expect(hosts.allows(bad), String(bad)).toBe(false);
    }
    // PORT=0: the port is the one the socket was accepted on.
    expect(hosts.allows('localhost:41234', 41234)).toBe(true);
    expect(hosts.allows('localhost:8000', 41234)).toBe(false);
  });

  it('with PUBLIC_URL: its host (default port implied), and still the loopback names a local proxy or health check uses', () => {
    const hosts = createHostAllowList({ publicUrl: 'https://grid.example', host: '127.0.0.1', port: 8000 });
    for (const ok of ['grid.example', 'grid.example:443', 'Grid.Example.', '127.0.0.1:8000', 'localhost:8000']) {
      expect(hosts.allows(ok), ok).toBe(true);
    }
    for (const bad of ['grid.example:8000', 'grid.example.evil.example', 'evil.example', 'localhost'])
      expect(hosts.allows(bad), bad).toBe(false);
    expect(hosts.expected).toBe('https://grid.example');
  });

  it('with a wildcard HOST: this machine’s own interface addresses, never any other name', () => {
    const hosts = createHostAllowList({ publicUrl: undefined, host: '0.0.0.0', port: 8000 });
    const own = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a?.family === 'IPv4');
    if (own) expect(hosts.allows(`${own.address}:8000`)).toBe(true);
    expect(hosts.allows('203.0.113.9:8000')).toBe(false);
    expect(hosts.allows('rebound.evil.example:8000')).toBe(false);
  });

  it('with a specific HOST: that address too', () => {
    const hosts = createHostAllowList({ publicUrl: undefined, host: '192.0.2.10', port: 8000 });
    expect(hosts.allows('192.0.2.10:8000')).toBe(true);
    expect(hosts.allows('192.0.2.11:8000')).toBe(false);
  });
});

describe('hostCheck', () => {
  const app = new Hono();
  app.onError((err, c) => c.json({ error: { code: (err as MisdirectedRequestError).code, message: err.message } }, 421));
  app.use('*', hostCheck(createHostAllowList(local)));
  app.get('/x', (c) => c.text('ok'));
  const overSocket = { incoming: { socket: { localPort: 8000 } } };

  it('lets a request for an allowed name through, and refuses a rebound name with 421 in words', async () => {
    expect((await app.request('/x', { headers: { host: '127.0.0.1:8000' } }, overSocket)).status).toBe(200);
    const res = await app.request('/x', { headers: { host: 'rebound.evil.example:8000' } }, overSocket);
    expect(res.status).toBe(421);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('misdirected_request');
    expect(body.error.message).toMatch(/not served under "rebound\.evil\.example:8000".*PUBLIC_URL/);
  });

  it('refuses a request over a socket without a Host, and never echoes a malformed one', async () => {
    expect((await app.request('/x', {}, overSocket)).status).toBe(421);
    const res = await app.request('/x', { headers: { host: 'a"b<script>' } }, overSocket);
    expect(res.status).toBe(421);
    expect(await res.text()).not.toContain('<script>');
  });

  it('has nothing to check on a request that never crossed a socket (app.request() without a server)', async () => {
    expect((await app.request('/x')).status).toBe(200);
  });
});
