/**
 * The operator settings in config.ts, and the refusal to start on a
 * non-loopback HOST without ADMIN_TOKEN, through the real entry point.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopbackHost, loadConfig } from '../config.js';

const TOKEN = 'correct-horse-battery-staple-42';
const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../main.ts');

describe('isLoopbackHost', () => {
  it('knows every spelling of this machine only', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of [
      '0.0.0.0',
      '::',
      '192.168.1.10',
      '10.0.0.1',
      '::ffff:10.0.0.1',
      'grid.example',
      '128.0.0.1',
      'localhost.evil.example',
    ]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });
});

describe('loadConfig: operators', () => {
  it('has no token by default and a week-long session', () => {
    expect(loadConfig({})).toMatchObject({ adminToken: undefined, sessionTtlSeconds: 7 * 24 * 3600 });
    expect(loadConfig({ ADMIN_TOKEN: TOKEN, SESSION_TTL_HOURS: '2' })).toMatchObject({ adminToken: TOKEN, sessionTtlSeconds: 7200 });
  });

  it('refuses a short or unprintable token, without echoing it', () => {
    expect(() => loadConfig({ ADMIN_TOKEN: 'short-secret' })).toThrow(/ADMIN_TOKEN: must be at least 24 characters/);
    expect(() => loadConfig({ ADMIN_TOKEN: 'short-secret' })).not.toThrow(/short-secret/);
    expect(() => loadConfig({ ADMIN_TOKEN: `${TOKEN} with spaces` })).toThrow(/ADMIN_TOKEN: must be printable ASCII/);
    expect(() => loadConfig({ SESSION_TTL_HOURS: '0' })).toThrow(/SESSION_TTL_HOURS/);
  });

  it('refuses a non-loopback HOST without ADMIN_TOKEN, saying why and what to set', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
      expect(() => loadConfig({ HOST: host }), host).toThrow(ConfigError);
      expect(() => loadConfig({ HOST: host }), host).toThrow(/HOST: .* lets other machines reach this coordinator.*Set ADMIN_TOKEN/);
    }
    expect(loadConfig({ HOST: '0.0.0.0', ADMIN_TOKEN: TOKEN }).host).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '::1' }).host).toBe('::1');
  });
});

describe('pnpm start on HOST=0.0.0.0 without ADMIN_TOKEN', () => {
  it('exits 1 with the reason, before listening on anything', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, HOST: '0.0.0.0', PORT: '0', ADMIN_TOKEN: '', DATA_DIR: '/nonexistent/never-created' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/tabgrid: invalid configuration:\n {2}HOST: 0\.0\.0\.0 lets other machines reach this coordinator/);
    expect(stderr).toMatch(/Set ADMIN_TOKEN to a secret of at least 24 characters/);
  }, 30_000);
});
