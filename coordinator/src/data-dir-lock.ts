/**
 * One coordinator per DATA_DIR in embedded mode. PGlite opens the same
 * folder twice without complaint and would corrupt it, so we take a lock
 * file holding our pid. A lock left by a dead process (kill -9) is taken
 * over; a live one is refused with a clear message.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { PermanentError } from './errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, 'coordinator.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8').trim());
      if (holder && holder !== process.pid && alive(holder)) {
        throw new PermanentError(
          'data_dir_locked',
          `another coordinator (pid ${holder}) is already running on ${dataDir}. Stop it, or give this one its own DATA_DIR (two processes on one embedded database would corrupt it).`,
        );
      }
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new PermanentError('data_dir_locked', `could not lock ${dataDir}`);
}
