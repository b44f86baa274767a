#!/usr/bin/env node
// `pnpm start`: builds the contributor page and the dashboard when their
// build is missing or older than their sources, then runs the coordinator.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function newest(dir) {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = path.join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

for (const pkg of ['web-worker-client', 'dashboard']) {
  const dir = path.join(root, pkg);
  const built = path.join(dir, 'dist', 'index.html');
  const sources = Math.max(newest(dir), newest(path.join(root, 'shared', 'src')));
  if (existsSync(built) && statSync(built).mtimeMs >= sources) continue;
  console.error(`tabgrid: building ${pkg} …`);
  const r = spawnSync('pnpm', ['--filter', `@tabgrid/${pkg}`, 'run', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`tabgrid: building ${pkg} failed; see the output above`);
    process.exit(r.status ?? 1);
  }
}

const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'coordinator', 'src', 'main.ts')], {
  cwd: process.cwd(),
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
