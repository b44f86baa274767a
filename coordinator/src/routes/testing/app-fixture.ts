/**
 * Test helper for the HTTP perimeter: a coordinator's app on a fresh
 * database of the real PostgreSQL, with an in-memory storage (presigned URLs
 * are fake, stored playlists are real text), jobs seeded through the state
 * machine, and the few helpers requests need (cookies, a socket's addresses).
 */
import { randomUUID } from 'node:crypto';
import type { JobState } from '@tabgrid/shared';
import { type AppOptions, createApp } from '../../app.js';
import { type Config, loadConfig } from '../../config.js';
import type { Database } from '../../db/client.js';
import { openTestDatabase, type TestDatabase } from '../../db/test-database.js';
import { insertJob, transitionJob } from '../../jobs/job-table.js';
import { createLogger } from '../../logger.js';
import { createLocalNotifier } from '../../notify/index.js';
import type { PipelineContext } from '../../pipeline/context.js';
import { storageKeys } from '../../storage/keys.js';
import type { Storage } from '../../storage/storage.js';

export const TOKEN = 'operator-token-for-tests-0123456789';

export type FakeStorage = Storage & { readonly objects: Map<string, Buffer> };

/** Objects in a Map; presigned URLs name the key and are never fetched. */
export function fakeStorage(): FakeStorage {
  const objects = new Map<string, Buffer>();
  const refuse = async (): Promise<never> => {
    throw new Error('not used by these tests');
  };
  return {
    objects,
    bucket: 'test',
    ensureBucket: async () => undefined,
    ping: async () => undefined,
    putFile: refuse,
    putStream: refuse,
    putBuffer: async (key, body) => void objects.set(key, body),
    getToFile: refuse,
    getBuffer: async (key) => {
      const b = objects.get(key);
      if (!b) throw new Error(`no object ${key}`);
      return b;
    },
    stat: async (key) => (objects.has(key) ? { size: objects.get(key)!.length } : null),
    remove: async (key) => void objects.delete(key),
    removePrefix: async (prefix) => {
      let n = 0;
      for (const k of [...objects.keys()]) if (k.startsWith(prefix) && objects.delete(k)) n++;
      return n;
    },
    list: async (prefix) => [...objects.keys()].filter((k) => k.startsWith(prefix)),
    presignGet: async (key) => `http://storage.test/${key}?X-Amz-Signature=fake`,
    presignPut: async (key) => `http://storage.test/${key}?X-Amz-Signature=fake-put`,
  };
}

export interface Fixture {
  readonly database: Database;
  readonly storage: FakeStorage;
  readonly ctx: PipelineContext;
  /** A new app on this database (several may share one, as coordinators do). */
  app(opts?: AppOptions, env?: Record<string, string>): ReturnType<typeof createApp>;
  close(): Promise<void>;
}

export async function openFixture(prefix: string, env: Record<string, string> = { ADMIN_TOKEN: TOKEN }): Promise<Fixture> {
  const { database, test } = await openTestDatabase(prefix);
  const storage = fakeStorage();
  const ctxFor = (config: Config): PipelineContext => ({
    db: database.db,
    storage,
    tools: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' },
    config,
    logger: createLogger('silent'),
    notifier: createLocalNotifier(),
  });
  const ctx = ctxFor(loadConfig(env));
  return {
    database,
    storage,
    ctx,
    app: (opts = {}, otherEnv) => createApp(otherEnv ? ctxFor(loadConfig(otherEnv)) : ctx, opts),
    async close() {
      await database.close();
      await (test as TestDatabase).drop();
    },
  };
}

const MASTER = (id: string) =>
  `#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e"\n360p.m3u8\n# job ${id}\n`;
const MEDIA = '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.0,\nseg_0000.m4s\n#EXT-X-ENDLIST\n';

/** A job taken through the state machine to `state`; a done one has an output, a poster and stored HLS playlists. */
export async function seedJob(f: Fixture, state: Extract<JobState, 'transcoding' | 'done'>, name = 'clip.mp4'): Promise<string> {
  const id = randomUUID();
  const db = f.database.db;
  await insertJob(db, { id, name, renditions: ['360p'], sourceKey: storageKeys.source(id, 'mp4'), sourceSize: 1000 });
  for (const [from, to] of [
    ['queued', 'probing'],
    ['probing', 'splitting'],
    ['splitting', 'transcoding'],
  ] as const) {
    await transitionJob(db, id, [from], to);
  }
  if (state === 'done') {
    await transitionJob(db, id, ['transcoding'], 'merging');
    f.storage.objects.set(storageKeys.hlsMaster(id), Buffer.from(MASTER(id)));
    f.storage.objects.set(storageKeys.hlsFile(id, '360p', 'index.m3u8'), Buffer.from(MEDIA));
    await transitionJob(db, id, ['merging'], 'done', {
      outputs: [{ rendition: '360p', width: 640, height: 360, size: 1000, key: storageKeys.output(id, '360p') }],
      deliverables: {
        hls: { masterKey: storageKeys.hlsMaster(id), playlists: ['360p'] },
        posterKey: storageKeys.poster(id),
        thumbnails: null,
      },
    });
  }
  return id;
}

/** The `name=value` a response's Set-Cookie sets (for the Cookie header of later requests). */
export function cookieFrom(res: Response): string {
  const header = res.headers.get('set-cookie');
  if (!header) throw new Error(`no Set-Cookie in a ${res.status} answer`);
  return header.split(';')[0]!;
}

/** What @hono/node-server passes as the app's env for a request over a socket. */
export function viaSocket(remoteAddress = '127.0.0.1', localPort = 8000) {
  return { incoming: { socket: { remoteAddress, localPort } } };
}

/** Logs in with the token, returning the cookie to send back. */
export async function login(app: ReturnType<typeof createApp>, env?: object): Promise<string> {
  const res = await app.request(
    '/api/session',
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) },
    env,
  );
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  return cookieFrom(res);
}

export async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}
