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
