/**
 * The writer lock between processes: a lock file that another live process is creating right now is never taken
 * for a stale one. (It was: the file existed empty between its exclusive create and the write of its owner's pid,
 * and a contender reading it then judged it stale, moved it aside and took the lock too, so two processes wrote.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { isFgClipError } from '../errors.js';
import { REPO_ROOT } from '../test-util/goldens.js';
import { WriterLock } from './lock.js';

const scratch = mkdtempSync(join(tmpdir(), 'fgclip-lock-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('a lock file another process is creating this instant is not taken over: the contender gets COLLECTION_LOCKED, the creator keeps it', async () => {
  const path = join(scratch, '.fgclip-writer.lock');
  const script = join(scratch, 'creator.mts');
  // The creator pauses 1.5 s right after the lock file appears under its name (whatever call creates it), and
  // holds the lock until its stdin closes. Node's fs is patched before lock.ts is loaded (syncBuiltinESMExports).
  writeFileSync(
    script,
    `import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const path = process.argv[2];
const pause = () => {
  fs.writeSync(1, 'visible\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
};
const { openSync, linkSync, renameSync } = fs;
fs.openSync = (...a) => { const fd = openSync(...a); if (a[0] === path) pause(); return fd; };
fs.linkSync = (...a) => { linkSync(...a); if (a[1] === path) pause(); };
fs.renameSync = (...a) => { renameSync(...a); if (a[1] === path) pause(); };
syncBuiltinESMExports();
const { WriterLock } = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src', 'collection', 'lock.ts')).href)});
WriterLock.acquire(path, 'the creator');
process.stdin.resume();
process.stdin.on('end', () => {
  const held = JSON.parse(fs.readFileSync(path, 'utf8'));
  fs.writeSync(1, held.pid === process.pid ? 'still mine\\n' : 'taken from me\\n');
});
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, path], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += String(d)));
  const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += String(d);
      if (out.includes('visible')) resolve();
    });
    child.on('close', (c) => reject(new Error(`the creator exited ${c} before creating the lock: ${err}`)));
  });
  // the creator is paused with its lock file in place (and alive until its stdin closes, whatever the timing)
  try {
    assert.throws(
      () => WriterLock.acquire(path, 'the contender'),
      (e: unknown) => isFgClipError(e) && e.code === 'COLLECTION_LOCKED' && /being written by the creator/.test(e.message),
    );
  } finally {
    child.stdin.end();
  }
  assert.equal(await exited, 0, err);
  assert.match(out, /still mine/);
});
