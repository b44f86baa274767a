/** GET /healthz: 200 when the database and storage answer, 503 naming what does not. */
import { Hono } from 'hono';
import { type Db, pingDatabase } from '../db/client.js';
import type { Storage } from '../storage/storage.js';

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

export function healthRoutes(deps: { db: Db; storage: Storage }) {
  const app = new Hono();
  app.get('/', async (c) => {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), 3000);
        return { ok: true as const };
      } catch (err) {
        // Drizzle wraps the driver's error; its cause says what is actually wrong (ECONNREFUSED, …).
        const cause = (err as Error).cause as Error | undefined;
        return { ok: false as const, error: cause?.message || (err as Error).message };
      }
    };
    const [database, storage] = await Promise.all([check(() => pingDatabase(deps.db)), check(() => deps.storage.ping())]);
    const ok = database.ok && storage.ok;
    return c.json({ ok, database, storage }, ok ? 200 : 503);
  });
  return app;
}
