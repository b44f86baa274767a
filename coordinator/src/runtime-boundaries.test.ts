/**
 * Runtime boundaries: code that runs in browsers, and the shared protocol,
 * never import Node built-ins or server code, and the native worker (a
 * client like a tab) imports no server code. Biome enforces the same rule
 * as you type (biome.json, noNodejsModules and noRestrictedImports); this
 * test keeps it enforced should the lint configuration ever drift.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(p).isDirectory()) return sources(p);
    return /\.(ts|tsx)$/.test(name) && !/\.test\.tsx?$/.test(name) ? [p] : [];
  });
}

const forbidden =
  /from\s+['"](node:[^'"]+|fs|path|os|child_process|postgres|drizzle-orm[^'"]*|@electric-sql\/[^'"]+|minio|ws|pino|hono[^'"]*|@tabgrid\/coordinator[^'"]*)['"]/g;

describe('runtime boundaries', () => {
  for (const pkg of ['shared/src', 'web-worker-client/src', 'dashboard/src']) {
    it(`${pkg} imports no Node built-ins, database, storage or server code`, () => {
      const offenders = sources(path.join(root, pkg)).flatMap((file) =>
        [...readFileSync(file, 'utf8').matchAll(forbidden)].map((m) => `${path.relative(root, file)}: ${m[1]}`),
      );
      expect(offenders).toEqual([]);
    });
  }

  it('native-worker/src, a client like a tab, imports no database, storage or server code', () => {
    const server =
      /from\s+['"](postgres|drizzle-orm[^'"]*|@electric-sql\/[^'"]+|minio|hono[^'"]*|s3rver|@tabgrid\/coordinator[^'"]*|[./]*coordinator\/src[^'"]*)['"]/g;
    const offenders = sources(path.join(root, 'native-worker/src')).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(server)].map((m) => `${path.relative(root, file)}: ${m[1]}`),
    );
    expect(offenders).toEqual([]);
  });
});
