import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import { createLocalNotifier, type Notifier } from './notifier.js';
import { createPgNotifier } from './pg-notifier.js';

export { createLocalNotifier, type Notifier, type WakeEvent, type WakeKind, Waker } from './notifier.js';

/** LISTEN/NOTIFY where other coordinators may share the database; in-process on PGlite, which only this process can open. */
export function createNotifier(database: Database, logger: Logger): Promise<Notifier> {
  return database.pgClient ? createPgNotifier(database.pgClient, logger) : Promise.resolve(createLocalNotifier());
}
