/** GET /api/workers: the volunteers' tabs, their current tasks and totals, and accepted segments per minute over the last hour. */
import { Hono } from 'hono';
import type { Db } from '../db/client.js';
import { workersSnapshot } from '../views/worker-views.js';

export function workerRoutes(deps: { db: Db }) {
  const app = new Hono();
  app.get('/', async (c) => c.json(await workersSnapshot(deps.db)));
  return app;
}
