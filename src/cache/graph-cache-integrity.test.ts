/**
 * Graph cache integrity and crash/concurrency safety: damaged files are detected against the manifest (warning +
 * rebuild, outputs identical to a fresh build), two real processes loading the same model into an empty cache both
 * succeed, and a staging folder left by a process killed with SIGKILL is removed by the next load.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { goldenPath, REPO_ROOT } from '../test-util/goldens.js';
import { FgClip } from '../model/handle.js';

const MODEL = goldenPath('fgclip-tiny');
const TEXTS = ['a photo of a cat', 'white cat'];
const IMAGE = goldenPath('images', 'gradient_97x61.png');
// scripts run by child processes must resolve the repo's modules and tsx: keep them inside the repo (.cache)
mkdirSync(join(REPO_ROOT, '.cache'), { recursive: true });
const scratch = mkdtempSync(join(REPO_ROOT, '.cache', 'test-graph-cache-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Outputs {
  texts: number[][];
  image: number[];
  fromGraphCache: boolean;
}

async function run(cache: string, warnings: string[] = []): Promise<Outputs> {
  const m = await FgClip.load(MODEL, { threads: 1, graphCache: cache, onWarning: (w) => warnings.push(w) });
  try {
    const t = await m.encodeTexts(TEXTS, { normalize: false });
    const [i] = await m.encodeImages([IMAGE], { normalize: false });
    return { texts: t.embeddings.map((e) => Array.from(e)), image: Array.from(i.embedding), fromGraphCache: m.fromGraphCache };
  } finally {
    m.dispose();
  }
}

const entries = (cache: string) => readdirSync(join(cache, 'graphs'));
const entryDir = (cache: string) => {
  const names = entries(cache).filter((n) => /^[0-9a-f]{32}$/.test(n));
  assert.equal(names.length, 1, `entries: ${entries(cache).join(', ')}`);
  return join(cache, 'graphs', names[0]);
};

let fresh: Outputs;
before(async () => {
  fresh = await run(mkdtempSync(join(scratch, 'ref-')));
});

describe('graph cache: every file is checked against manifest.json before it is trusted', () => {
  const damages: [string, (dir: string) => void, RegExp][] = [
    ['one flipped bit in text/weights.bin', (d) => flip(join(d, 'text', 'weights.bin'), 100), /text\/weights\.bin does not match its sha256/],
    [
      'one flipped bit in vision model.onnx',
      (d) => flip(join(d, readdirSync(d).find((n) => n.startsWith('vision-'))!, 'model.onnx'), 40),
      /vision-\d+\/model\.onnx does not match its sha256/,
    ],
    [
      'meta.json with another logit scale (same length)',
      (d) =>
        writeFileSync(
          join(d, 'meta.json'),
          readFileSync(join(d, 'meta.json'), 'utf8').replace(
            /"logitScaleLog":(-?)(\d)/,
            (_, sign: string, digit: string) => `"logitScaleLog":${sign}${(Number(digit) + 1) % 10}`,
          ),
        ),
      /meta\.json does not match its sha256/,
    ],
    ['text-tables.bin truncated', (d) => writeFileSync(join(d, 'text-tables.bin'), Buffer.alloc(12)), /text-tables\.bin has 12 bytes, the manifest says \d+/],
    [
      'text/model.onnx replaced by a FIFO',
      (d) => (rmSync(join(d, 'text', 'model.onnx')), execFileSync('mkfifo', [join(d, 'text', 'model.onnx')])),
      /text\/model\.onnx graph cache file is a FIFO/,
    ],
    [
      'manifest.json removed (an entry of an older layout or a crashed copy)',
      (d) => rmSync(join(d, 'manifest.json')),
      /manifest\.json is missing or unreadable/,
    ],
    ['manifest.json garbage', (d) => writeFileSync(join(d, 'manifest.json'), '{"version": 5'), /manifest\.json is missing or unreadable/],
  ];
  for (const [what, damage, why] of damages) {
    test(`${what}: warning naming the problem, entry rebuilt, outputs equal a fresh build exactly`, async () => {
      const cache = mkdtempSync(join(scratch, 'dmg-'));
      const first = await run(cache);
      assert.equal(first.fromGraphCache, false);
      assert.equal((await run(cache)).fromGraphCache, true);
      damage(entryDir(cache));
      const warnings: string[] = [];
      const again = await run(cache, warnings);
      assert.equal(again.fromGraphCache, false, 'a damaged entry must not be used');
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0], /graph cache: .* is damaged \(/);
      assert.match(warnings[0], why);
      assert.deepEqual(again.texts, fresh.texts);
      assert.deepEqual(again.image, fresh.image);
      const third = await run(cache, warnings);
      assert.equal(third.fromGraphCache, true, 'the rebuilt entry is used next time');
      assert.equal(warnings.length, 1);
      assert.deepEqual(
        entries(cache).filter((n) => !/^[0-9a-f]{32}$/.test(n)),
        [],
        'no staging or trash left',
      );
    });
  }
});

function flip(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] ^= 0x10;
  writeFileSync(path, b);
}

/** Runs a module script in a child node process (tsx loader); resolves with its exit code and output. */
function child(
  script: string,
  args: string[] = [],
): { done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>; proc: ReturnType<typeof spawn> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c));
  proc.stderr!.on('data', (c: Buffer) => (err += c));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) =>
    proc.on('close', (code, signal) => resolve({ code, signal, out, err })),
  );
  return { done, proc };
}

const handleUrl = pathToFileURL(join(REPO_ROOT, 'src', 'model', 'handle.ts')).href;
const cacheUrl = pathToFileURL(join(REPO_ROOT, 'src', 'cache', 'graph-cache.ts')).href;

describe('graph cache: processes and crashes', () => {
  test('two processes loading the same model into an empty cache both succeed with identical outputs; one entry, no staging left', async () => {
    const cache = mkdtempSync(join(scratch, 'race-'));
    const script = join(scratch, 'load.mts');
    writeFileSync(
      script,
      `import { FgClip } from ${JSON.stringify(handleUrl)};
const m = await FgClip.load(${JSON.stringify(MODEL)}, { threads: 1, graphCache: process.argv[2] });
const t = await m.encodeTexts(${JSON.stringify(TEXTS)}, { normalize: false });
const [i] = await m.encodeImages([${JSON.stringify(IMAGE)}], { normalize: false });
console.log(JSON.stringify({ texts: t.embeddings.map((e) => Array.from(e)), image: Array.from(i.embedding) }));
m.dispose();
`,
    );
    const [a, b] = await Promise.all([child(script, [cache]).done, child(script, [cache]).done]);
    for (const r of [a, b]) {
      assert.equal(r.code, 0, r.err);
      const o = JSON.parse(r.out) as Outputs;
      assert.deepEqual(o.texts, fresh.texts);
      assert.deepEqual(o.image, fresh.image);
    }
    entryDir(cache);
    assert.deepEqual(
      entries(cache).filter((n) => !/^[0-9a-f]{32}$/.test(n)),
      [],
    );
    assert.equal((await run(cache)).fromGraphCache, true);
  });

  test('kill -9 of a process while it stages an entry leaves a staging folder that the next load removes; the entry is then complete', async () => {
    const cache = mkdtempSync(join(scratch, 'kill-'));
    const script = join(scratch, 'stage-and-hang.mts');
    writeFileSync(
      script,
      `import { graphCacheEntry, Staging } from ${JSON.stringify(cacheUrl)};
const entry = await graphCacheEntry(${JSON.stringify(MODEL)}, { dtype: 'fp32', imageSize: 32 }, process.argv[2]);
const s = Staging.start(entry);
s!.sink('text').write(new Uint8Array(1024));
console.log(s!.path);
setInterval(() => undefined, 1000); // building... until killed
`,
    );
    const c = child(script, [cache]);
    const staged = await new Promise<string>((resolve, reject) => {
      c.proc.stdout!.on('data', (d: Buffer) => resolve(d.toString().trim()));
      c.proc.on('close', (code) => reject(new Error(`child exited ${code} before staging`)));
    });
    assert.ok(existsSync(staged), staged);
    c.proc.kill('SIGKILL');
    const end = await c.done;
    assert.equal(end.signal, 'SIGKILL');
    assert.ok(existsSync(staged), 'the killed process left its staging folder behind');
    const loaded = await run(cache);
    assert.equal(loaded.fromGraphCache, false);
    assert.equal(existsSync(staged), false, 'the next load removed the stale staging folder');
    assert.deepEqual(
      entries(cache).filter((n) => !/^[0-9a-f]{32}$/.test(n)),
      [],
    );
    assert.deepEqual(loaded.texts, fresh.texts);
    assert.equal((await run(cache)).fromGraphCache, true);
  });
});
