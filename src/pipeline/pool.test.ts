import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FgClipError } from '../errors.js';
import { decodeImage, loadAndPreprocess, type PreprocessOptions } from '../preprocess/index.js';
import { goldenPath, readGoldenJson, REPO_ROOT } from '../test-util/goldens.js';
import { createPreprocessPool, type PoolResult, type PreprocessPool } from './index.js';

const golden = readGoldenJson<{ mean: number[]; std: number[] }>('preprocess_cases.json');
const IMAGES = ['cat_dfclor.jpg', 'gradient_97x61.png', 'gray_50x50.png', 'noise_rgba_40x120.png', 'tiny_7x5.png'].map((f) => goldenPath('images', f));
const opts = (size: number, mode: 'squash' | 'crop' = 'squash'): PreprocessOptions => ({ size, mode, mean: golden.mean, std: golden.std });

/** Bit-level equality of two float32 arrays (NaN-safe, -0 ≠ +0), with the first differing index on failure. */
function assertBitIdentical(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) assert.fail(`${what}: first difference at ${i}: ${a[i]} vs ${b[i]}`);
}

async function collect(it: AsyncIterable<PoolResult>): Promise<PoolResult[]> {
  const out: PoolResult[] = [];
  for await (const r of it) out.push(r);
  return out;
}

const pools: PreprocessPool[] = [];
async function pool(o: Parameters<typeof createPreprocessPool>[0]): Promise<PreprocessPool> {
  const p = await createPreprocessPool(o);
  pools.push(p);
  return p;
}
after(async () => {
  for (const p of pools) await p.close();
});

describe('preprocess pool vs in-thread preprocessing (bit-identical float32)', () => {
  for (const [size, mode] of [
    [224, 'squash'],
    [336, 'crop'],
    [96, 'squash'],
  ] as const) {
    test(`golden images @${size} ${mode}: file paths, bytes and RgbImage inputs give bit-identical pixel_values`, async () => {
      const p = await pool({ threads: 2, ...opts(size, mode) });
      const ref = await Promise.all(IMAGES.map((f) => loadAndPreprocess(f, opts(size, mode))));
      const bytes = IMAGES.map((f) => new Uint8Array(readFileSync(f)));
      const rgb = await Promise.all(IMAGES.map((f) => decodeImage(f)));
      for (const [kind, inputs] of [
        ['path', IMAGES],
        ['bytes', bytes],
        ['rgb', rgb],
      ] as const) {
        const got = await collect(p.map(inputs));
        assert.equal(got.length, IMAGES.length);
        got.forEach((r, i) => {
          assert.ok(r.ok, `${kind} ${IMAGES[i]}: ${r.ok ? '' : r.error.message}`);
          assert.equal(r.index, i);
          assert.equal(r.width, rgb[i].width);
          assert.equal(r.height, rgb[i].height);
          assertBitIdentical(r.pixels, ref[i], `${kind} ${IMAGES[i]}`);
        });
      }
      // the caller's buffers are copied, not transferred away
      assert.ok(bytes.every((b) => b.length > 0) && rgb.every((r) => r.data.length === r.width * r.height * 3));
    });
  }

  test('run(one item) equals loadAndPreprocess bit for bit and reports the original size', async () => {
    const p = await pool({ threads: 1, ...opts(224) });
    const r = await p.run(IMAGES[0]);
    assertBitIdentical(r.pixels, await loadAndPreprocess(IMAGES[0], opts(224)), 'run');
    const img = await decodeImage(IMAGES[0]);
    assert.deepEqual([r.width, r.height], [img.width, img.height]);
  });
});

describe('preprocess pool: order, errors, back-pressure', () => {
  test('results come in input order when later items finish first (big JPEG then tiny PNGs, 40 items)', async () => {
    const p = await pool({ threads: 2, maxInFlight: 6, ...opts(224) });
    const files = Array.from({ length: 40 }, (_, i) => IMAGES[i % 3 === 0 ? 0 : 1 + (i % 4)]);
    const ref = new Map(await Promise.all(IMAGES.map(async (f) => [f, await loadAndPreprocess(f, opts(224))] as const)));
    const got = await collect(p.map(files));
    assert.deepEqual(
      got.map((r) => r.index),
      files.map((_, i) => i),
    );
    got.forEach((r, i) => {
      assert.ok(r.ok);
      assertBitIdentical(r.pixels, ref.get(files[i])!, `item ${i}`);
    });
  });

  test('a bad item yields an error for that index only (missing file, non-image bytes, truncated JPEG, wrong type)', async () => {
    const p = await pool({ threads: 2, ...opts(224) });
    const jpeg = readFileSync(IMAGES[0]);
    const inputs = [
      IMAGES[1],
      goldenPath('images', 'does-not-exist.png'),
      new TextEncoder().encode('definitely not an image'),
      new Uint8Array(jpeg.subarray(0, Math.floor(jpeg.length / 3))),
      42 as unknown as string,
      IMAGES[2],
    ];
    const got = await collect(p.map(inputs));
    assert.deepEqual(
      got.map((r) => [r.index, r.ok]),
      [
        [0, true],
        [1, false],
        [2, false],
        [3, false],
        [4, false],
        [5, true],
      ],
    );
    const codes = got.map((r) => (r.ok ? 'ok' : r.error.code));
    assert.deepEqual(codes, ['ok', 'IMAGE_DECODE', 'IMAGE_DECODE', 'IMAGE_DECODE', 'INPUT_INVALID', 'ok']);
    for (const r of got) if (!r.ok) assert.ok(r.error instanceof FgClipError);
    assert.match((got[1] as { error: Error }).error.message, /file not found/);
    assert.match((got[4] as { error: Error }).error.message, /expected a file path.*got number/);
    // the pool still works afterwards
    assert.equal((await p.run(IMAGES[4])).width, 7);
    await assert.rejects(p.run(goldenPath('images', 'nope.jpg')), (e: unknown) => e instanceof FgClipError && e.code === 'IMAGE_DECODE');
  });

  test('maxPixels is applied in the workers (IMAGE_TOO_LARGE for the 768-pixel-wide photo with maxPixels 1000)', async () => {
    const p = await pool({ threads: 1, maxPixels: 1000, ...opts(32) });
    const got = await collect(p.map([IMAGES[0], IMAGES[4]]));
    assert.equal(got[0].ok ? 'ok' : got[0].error.code, 'IMAGE_TOO_LARGE');
    assert.ok(got[1].ok);
  });

  for (const kind of ['sync', 'async'] as const) {
    test(`back-pressure (${kind} source): pulled − consumed never exceeds maxInFlight = 3, and reaches it`, async () => {
      const p = await pool({ threads: 2, maxInFlight: 3, ...opts(32) });
      let pulled = 0;
      const n = 12;
      function* gen() {
        for (let i = 0; i < n; i++) {
          pulled++;
          yield IMAGES[i % IMAGES.length];
        }
      }
      async function* agen() {
        for (const x of gen()) yield x;
      }
      let consumed = 0;
      let maxAhead = 0;
      for await (const r of p.map(kind === 'sync' ? gen() : agen())) {
        assert.ok(r.ok);
        consumed++;
        maxAhead = Math.max(maxAhead, pulled - consumed + 1); // +1: the item in hand was pulled and is not yet done
        assert.ok(pulled - consumed <= 3, `pulled ${pulled}, consumed ${consumed}`);
        await new Promise((res) => setTimeout(res, 30)); // a slow consumer: the pool must wait, not read ahead
        assert.ok(pulled - consumed <= 3, `after waiting: pulled ${pulled}, consumed ${consumed}`);
      }
      assert.equal(consumed, n);
      assert.equal(maxAhead, 3);
    });
  }

  test('breaking out of the loop stops pulling inputs and closes the source; the pool stays usable', async () => {
    const p = await pool({ threads: 2, maxInFlight: 2, ...opts(32) });
    let pulled = 0;
    let closed = false;
    function* gen() {
      try {
        for (let i = 0; i < 1000; i++) {
          pulled++;
          yield IMAGES[4];
        }
      } finally {
        closed = true;
      }
    }
    let seen = 0;
    for await (const r of p.map(gen())) {
      assert.ok(r.ok);
      if (++seen === 3) break;
    }
    assert.ok(closed, 'source iterator closed');
    assert.ok(pulled <= 5, `pulled ${pulled}`);
    assert.equal((await p.run(IMAGES[4])).height, 5);
  });
});

describe('preprocess pool: lifecycle and options', () => {
  test('close() terminates every worker, fails pending items with DISPOSED, and later calls with DISPOSED', async () => {
    const p = await createPreprocessPool({ threads: 2, ...opts(336) });
    assert.equal(p.liveWorkers, 2);
    const pending = Promise.allSettled(Array.from({ length: 6 }, () => p.run(IMAGES[0])));
    await p.close();
    assert.equal(p.liveWorkers, 0);
    const settled = await pending;
    for (const s of settled) if (s.status === 'rejected') assert.equal((s.reason as FgClipError).code, 'DISPOSED');
    assert.ok(
      settled.some((s) => s.status === 'rejected'),
      'items queued at close are rejected',
    );
    await assert.rejects(p.run(IMAGES[1]), (e: unknown) => e instanceof FgClipError && e.code === 'DISPOSED');
    await assert.rejects(collect(p.map([IMAGES[1]])), (e: unknown) => e instanceof FgClipError && e.code === 'DISPOSED');
    await p.close(); // idempotent
  });

  test('a pool that is never closed does not keep the process alive, and a top-level await of it does not exit early', () => {
    mkdirSync(join(REPO_ROOT, '.cache'), { recursive: true }); // a fresh clone has none
    const dir = mkdtempSync(join(REPO_ROOT, '.cache', 'test-pipeline-forgotten-'));
    try {
      const script = join(dir, 'forgotten.mts');
      writeFileSync(
        script,
        `import { createPreprocessPool } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/pipeline/index.ts')).href)};
const p = await createPreprocessPool({ threads: 2, size: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
const r = await p.run(${JSON.stringify(IMAGES[4])});
process.stdout.write(String(r.pixels.length));`,
      );
      const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: REPO_ROOT, timeout: 60_000 });
      assert.equal(run.error, undefined, 'the process exits by itself (no timeout)');
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, String(3 * 32 * 32));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const badOptions: [string, Record<string, unknown>, RegExp][] = [
    ['threads 0', { threads: 0 }, /bad threads \(expected a positive integer, got 0\)/],
    ['maxInFlight 1.5', { maxInFlight: 1.5 }, /bad maxInFlight/],
    ['size -1', { size: -1 }, /bad size/],
    ["mode 'fit'", { mode: 'fit' }, /bad mode \(expected 'squash' or 'crop', got "fit"\)/],
    ['autoOrient "yes"', { autoOrient: 'yes' }, /bad autoOrient/],
    ['maxPixels 0', { maxPixels: 0 }, /bad maxPixels/],
    ['mean of 2 values', { mean: [0.5, 0.5] }, /bad mean/],
    ['std with a zero', { std: [1, 0, 1] }, /bad std/],
  ];
  for (const [what, patch, re] of badOptions) {
    test(`createPreprocessPool rejects ${what} with INPUT_INVALID before starting workers`, async () => {
      await assert.rejects(createPreprocessPool({ ...opts(224), threads: 1, ...patch } as Parameters<typeof createPreprocessPool>[0]), (e: unknown) => {
        assert.ok(e instanceof FgClipError);
        assert.equal(e.code, 'INPUT_INVALID');
        assert.match(e.message, re);
        return true;
      });
    });
  }

  test('map() of a non-iterable throws INPUT_INVALID', async () => {
    const p = await pool({ threads: 1, ...opts(32) });
    await assert.rejects(collect(p.map(42 as unknown as string[])), (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID');
  });
});

describe('preprocess pool from compiled JavaScript (as in dist/)', () => {
  test('under plain node (no tsx) the compiled pool starts worker.js and gives bit-identical pixels', async () => {
    const out = join(REPO_ROOT, '.cache', 'test-pipeline-js');
    mkdirSync(join(REPO_ROOT, '.cache'), { recursive: true });
    const dir = mkdtempSync(`${out}-`);
    try {
      const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      const flags = [
        '--outDir',
        dir,
        '--rootDir',
        join(REPO_ROOT, 'src'),
        '--module',
        'NodeNext',
        '--moduleResolution',
        'NodeNext',
        '--target',
        'ES2022',
        '--lib',
        'ES2023,DOM',
        '--types',
        'node',
        '--skipLibCheck',
        '--strict',
      ];
      const build = spawnSync(process.execPath, [tsc, ...flags, join(REPO_ROOT, 'src/pipeline/index.ts'), join(REPO_ROOT, 'src/pipeline/worker.ts')], {
        encoding: 'utf8',
      });
      assert.equal(build.status, 0, build.stdout + build.stderr);
      const script = join(dir, 'check.mjs');
      writeFileSync(
        script,
        `import { createPreprocessPool } from ${JSON.stringify(pathToFileURL(join(dir, 'pipeline', 'index.js')).href)};
const o = JSON.parse(process.argv[2]);
const p = await createPreprocessPool({ threads: 2, ...o.opts });
const out = [];
for await (const r of p.map(o.files)) out.push(r.ok ? Buffer.from(r.pixels.buffer).toString('base64') : r.error.code);
await p.close();
process.stdout.write(JSON.stringify(out));`,
      );
      const files = [IMAGES[0], IMAGES[3], goldenPath('images', 'missing.png')];
      const run = spawnSync(process.execPath, [script, JSON.stringify({ opts: opts(224), files })], { encoding: 'utf8', cwd: dir, maxBuffer: 1 << 26 });
      assert.equal(run.status, 0, `${relative(REPO_ROOT, script)}: ${run.stderr}`);
      const got = JSON.parse(run.stdout) as string[];
      assert.equal(got[2], 'IMAGE_DECODE');
      for (let i = 0; i < 2; i++) {
        const b = Buffer.from(got[i], 'base64');
        assertBitIdentical(new Float32Array(b.buffer, b.byteOffset, b.length / 4), await loadAndPreprocess(files[i], opts(224)), files[i]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
