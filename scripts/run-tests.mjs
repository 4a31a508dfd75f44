#!/usr/bin/env node
// Runs every *.test.ts under src/ (or the files/folders given) with node's test runner, TypeScript loaded by tsx.
// Node 20's `--test` has no glob support, so the file list is collected here.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function collect(p, out) {
  if (statSync(p).isDirectory()) {
    for (const e of readdirSync(p).sort()) if (e !== 'node_modules') collect(join(p, e), out);
  } else if (p.endsWith('.test.ts')) out.push(p);
  return out;
}
const args = process.argv.slice(2);
const roots = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
const files = (roots.length ? roots : ['src', 'bench'].filter((r) => existsSync(r))).flatMap((r) => collect(r, []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Tests never touch the user's caches: a fresh fgclip cache and HF cache per run unless the caller sets them.
const scratch = mkdtempSync(join(tmpdir(), 'fgclip-test-'));
const env = { ...process.env };
env.FGCLIP_CACHE ??= join(scratch, 'fgclip');
env.HF_HOME ??= join(scratch, 'hf');
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...flags, ...files], { stdio: 'inherit', env });
rmSync(scratch, { recursive: true, force: true });
process.exit(r.status ?? 1);
