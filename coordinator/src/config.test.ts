import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has the documented defaults: embedded database and storage', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      s3: undefined,
      leaseTtlSeconds: 30,
      renditions: ['720p', '480p', '360p'],
    });
    expect(c.dataDir).toMatch(/\.tabgrid$/);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', S3_ENDPOINT: '' }).databaseUrl).toBeUndefined();
  });

  it('names the variable and the problem for a bad value', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ LEASE_TTL_SECONDS: '0' })).toThrow(/LEASE_TTL_SECONDS/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: must be a postgres/);
    expect(() => loadConfig({ RENDITIONS: '720p,4k' })).toThrow(/RENDITIONS: unknown rendition\(s\) 4k/);
  });

  it('wants all four S3 settings or none', () => {
    expect(() => loadConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000' })).toThrow(
      /set all of S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET/,
    );
    const c = loadConfig({
      S3_ENDPOINT: 'http://minio:9000',
      S3_PUBLIC_ENDPOINT: 'http://localhost:9000',
      S3_ACCESS_KEY: 'a',
      S3_SECRET_KEY: 'b',
      S3_BUCKET: 'tabgrid',
    });
    expect(c.s3?.endpoint.host).toBe('minio:9000');
    expect(c.s3?.publicEndpoint.host).toBe('localhost:9000');
  });

  it('has input limits that accept real sources up to 4K, and validates the URL-source policy', () => {
    const c = loadConfig({});
    expect(c.sourceLimits).toEqual({
      maxWidth: 4096,
      maxHeight: 4096,
      maxPixels: 4096 * 3072,
      maxFps: 240,
      maxFrames: 1_000_000,
      maxPacketRate: 480,
      maxDurationSeconds: 4 * 3600,
    });
    expect(c.sourceUrls).toEqual({ allowPrivate: false, allowYtDlp: false });
    expect(c.uploads).toEqual({ maxConcurrent: 4, timeoutSeconds: 7200, minBytesPerSecond: 8192, rateWindowSeconds: 30 });
    expect(c.toolMemoryLimitBytes).toBeGreaterThanOrEqual(1024 * 1024 * 1024);
    expect(loadConfig({ TOOL_MEMORY_LIMIT_MB: '3000' }).toolMemoryLimitBytes).toBe(3000 * 1024 * 1024);
    expect(loadConfig({ MAX_DURATION_SECONDS: '30' }).sourceLimits.maxDurationSeconds).toBe(30);
    expect(loadConfig({ ALLOW_PRIVATE_SOURCE_URLS: 'true' }).sourceUrls.allowPrivate).toBe(true);
    expect(loadConfig({ ALLOW_PRIVATE_SOURCE_URLS: '10.1.0.0/16, fd00::/8' }).sourceUrls.allowPrivate).toEqual(['10.1.0.0/16', 'fd00::/8']);
    expect(() => loadConfig({ ALLOW_PRIVATE_SOURCE_URLS: 'yes' })).toThrow(
      /ALLOW_PRIVATE_SOURCE_URLS: must be true, false or a comma-separated list of CIDR ranges/,
    );
    expect(() => loadConfig({ ALLOW_PRIVATE_SOURCE_URLS: '10.0.0.0/33' })).toThrow(/ALLOW_PRIVATE_SOURCE_URLS/);
    expect(() => loadConfig({ ALLOW_YT_DLP: '1' })).toThrow(/ALLOW_YT_DLP: must be true or false/);
    expect(() => loadConfig({ TOOL_MEMORY_LIMIT_MB: '100' })).toThrow(/TOOL_MEMORY_LIMIT_MB/);
  });

  it('reads the replication settings, with defaults, and refuses nonsense', () => {
    expect(loadConfig({})).toMatchObject({ replicaSampleRate: 0.1, replicaWaitSeconds: 300, replicasFromSameAddress: false });
    expect(loadConfig({ REPLICA_SAMPLE_RATE: '0.25', REPLICA_WAIT_SECONDS: '60', REPLICAS_FROM_SAME_ADDRESS: 'true' })).toMatchObject({
      replicaSampleRate: 0.25,
      replicaWaitSeconds: 60,
      replicasFromSameAddress: true,
    });
    expect(() => loadConfig({ REPLICA_SAMPLE_RATE: '1.5' })).toThrow(/REPLICA_SAMPLE_RATE/);
    expect(() => loadConfig({ REPLICA_WAIT_SECONDS: '0' })).toThrow(/REPLICA_WAIT_SECONDS/);
    expect(() => loadConfig({ REPLICAS_FROM_SAME_ADDRESS: 'yes' })).toThrow(/REPLICAS_FROM_SAME_ADDRESS/);
  });
});
