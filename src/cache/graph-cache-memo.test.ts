/**
 * The graph cache's digest memo (verified.json in an entry): a warm load re-hashes no file whose identity on disk
 * (device, inode, size, mtime, ctime) is unchanged, and a file edited in place with its size and mtime restored is
 * still caught (its ctime moved): warning, rebuild, outputs identical to the first build.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FgClip } from '../model/handle.js';
import { goldenPath } from '../test-util/goldens.js';

const MODEL = goldenPath('fgclip-tiny');
const IMAGE = goldenPath('images', 'gradient_97x61.png');

async function embed(cache: string, warnings: string[] = []): Promise<{ image: number[]; fromGraphCache: boolean }> {
  const m = await FgClip.load(MODEL, { threads: 1, graphCache: cache, onWarning: (w) => warnings.push(w) });
  try {
    const [i] = await m.encodeImages([IMAGE], { normalize: false });
    return { image: Array.from(i.embedding), fromGraphCache: m.fromGraphCache };
  } finally {
    m.dispose();
  }
}

describe('graph cache digest memo', () => {
  const root = mkdtempSync(join(tmpdir(), 'fgclip-verified-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('the commit records every manifest file; an in-place edit with size and mtime restored is detected (ctime) and rebuilt', async () => {
    const cache = join(root, 'cache');
    const first = await embed(cache);
    const entry = join(cache, 'graphs', readdirSync(join(cache, 'graphs')).filter((n) => /^[0-9a-f]{32}$/.test(n))[0]);
    const manifest = JSON.parse(readFileSync(join(entry, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string }[] };
    const memo = JSON.parse(readFileSync(join(entry, 'verified.json'), 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.values(memo).sort(), manifest.files.map((f) => f.sha256).sort(), 'one remembered digest per file');
    assert.ok(!manifest.files.some((f) => f.path === 'verified.json'), 'the memo is not part of the manifest');
    assert.deepEqual(await embed(cache), { ...first, fromGraphCache: true });

    // flip one byte in the middle of the vision weights, then put size and mtime back
    const weights = join(entry, readdirSync(entry).find((n) => n.startsWith('vision-')) ?? '', 'weights.bin');
    const before = statSync(weights, { bigint: true });
    const fd = openSync(weights, 'r+');
    const b = Buffer.alloc(1);
    const at = Number(before.size / 2n);
    readSync(fd, b, 0, 1, at);
    b[0] ^= 0xff;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    // GNU touch takes nanoseconds (fs.utimes would round them)
    execFileSync('touch', ['-m', '-d', `@${before.mtimeNs / 1_000_000_000n}.${String(before.mtimeNs % 1_000_000_000n).padStart(9, '0')}`, weights]);
    const after = statSync(weights, { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs);
    assert.equal(after.size, before.size);
    assert.notEqual(after.ctimeNs, before.ctimeNs);
    const warnings: string[] = [];
    const again = await embed(cache, warnings);
    assert.ok(
      warnings.some((w) => /weights\.bin does not match its sha256/.test(w)),
      warnings.join('\n'),
    );
    assert.deepEqual(again, { ...first, fromGraphCache: false });
  });
});
