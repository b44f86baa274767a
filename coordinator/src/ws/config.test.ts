import { describe, expect, it } from 'vitest';
import { clientMessageSchema, MAX_LEASES_HELD, MAX_RUNGS_PER_ASSIGN, PROTOCOL_VERSION } from '@tabgrid/shared';
import { ConfigError, loadConfig } from '../config.js';

describe('WebSocket limits configuration', () => {
  it('has defaults generous enough for several tabs behind one NAT', () => {
    expect(loadConfig({})).toMatchObject({
      trustProxy: 0,
      ws: {
        maxConnectionsPerAddress: 64,
        connectionsPerMinute: 120,
        helloTimeoutSeconds: 10,
        messagesPerSecond: 10,
        messageBurst: 60,
        maxMessageBytes: 16 * 1024,
        helloConcurrency: 4,
        maxPendingHellos: 1000,
      },
    });
  });

  it('reads TRUST_PROXY as a proxy count', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'FALSE' }).trustProxy).toBe(0);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(() => loadConfig({ TRUST_PROXY: 'yes' })).toThrow(/TRUST_PROXY: must be true, false, or the number of proxies/);
  });

  it('refuses limits that would cut off an honest tab', () => {
    expect(() => loadConfig({ WS_MAX_MESSAGE_BYTES: '1000' })).toThrow(ConfigError);
    expect(() => loadConfig({ WS_MAX_MESSAGE_BYTES: '1000' })).toThrow(/WS_MAX_MESSAGE_BYTES/);
    expect(() => loadConfig({ WS_MAX_CONNECTIONS_PER_ADDRESS: '0' })).toThrow(/WS_MAX_CONNECTIONS_PER_ADDRESS/);
    expect(() => loadConfig({ WS_MESSAGES_PER_SECOND: '-1' })).toThrow(/WS_MESSAGES_PER_SECOND/);
  });

  it('the largest valid message a tab can send fits under the smallest allowed size limit', () => {
    const worstFail = JSON.stringify({
      type: 'fail',
      id: 'x'.repeat(64),
      leaseId: 'l'.repeat(64),
      token: 't'.repeat(128),
      reason: '\u0001'.repeat(2000),
    });
    const lease = (i: number) => ({ leaseId: `${i}`.padStart(64, 'l'), token: 't'.repeat(128) });
    const worstHello = JSON.stringify({
      type: 'hello',
      id: 'x'.repeat(64),
      protocol: PROTOCOL_VERSION,
      credential: '\u0001'.repeat(256),
      name: '\u0001'.repeat(80),
      capabilities: {
        encoders: Array(8).fill('webcodecs-h264'),
        threads: 64,
        wasmMultiThread: true,
        hardwareConcurrency: 1024,
        userAgent: '\u0001'.repeat(512),
        maxRungs: MAX_RUNGS_PER_ASSIGN,
      },
      resume: Array.from({ length: MAX_LEASES_HELD }, (_, i) => lease(i)),
    });
    const worstHeartbeat = JSON.stringify({
      type: 'heartbeat',
      id: 'x'.repeat(64),
      leases: Array.from({ length: MAX_RUNGS_PER_ASSIGN }, (_, i) => lease(i)),
      progress: 0.123456789,
      frames: Number.MAX_SAFE_INTEGER,
      stage: 'transcoding',
      ready: false,
    });
    for (const raw of [worstFail, worstHello, worstHeartbeat]) {
      expect(clientMessageSchema.safeParse(JSON.parse(raw)).success).toBe(true);
      expect(Buffer.byteLength(raw)).toBeLessThan(16 * 1024);
    }
  });
});
