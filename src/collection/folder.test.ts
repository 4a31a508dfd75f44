/**
 * searchImages (folder search on a collection) on a folder of golden images: scores equal cosines computed from the
 * reference's features (max abs 1e-4; the JPEG 2e-3), the folder's collection in the cache embeds each distinct file
 * content once (counted by wrapping encodeImages: images the vision tower ran on), copies are ranked under every path,
 * deleted files leave the ranking, unreadable files are skipped with a warning, and the preprocessing is part of the
 * cache key.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { FgClipError } from '../errors.js';
import { FgClip } from '../model/handle.js';
import { goldenPath, readGoldenJson } from '../test-util/goldens.js';
import { clearMemoryCache } from '../cache/vector-store.js';
import { listImages } from '../tasks/images.js';
import { Collection } from './collection.js';
import { folderCollectionPath, searchImages } from './folder.js';

/** every temp folder of this file, removed at the end */
const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-test-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

interface Cases {
  text_short: { texts: string[]; features: number[][] };
  text_long: { texts: string[]; features: number[][] };
  end_to_end: { cases: { image: string; image_features: number[] }[] };
}

const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const dot64 = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i], 0);

describe('searchImages on fgclip-tiny', () => {
  const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
  const dir = mkdtempSync(join(ROOT, 'fgclip-search-'));
  const cache = { dir: mkdtempSync(join(ROOT, 'fgclip-cache-')) };
  // golden image → its path in the folder
  const placed = new Map<string, string>();
  let model: FgClip;
  let encoded = 0;

  before(async () => {
    mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
    mkdirSync(join(dir, '.hidden'));
    C.end_to_end.cases.forEach((c, i) => {
      const name = c.image.split('/').pop() as string;
      const dest = i % 2 === 0 ? join(dir, name) : join(dir, 'sub', i === 3 ? 'deeper' : '', name.toUpperCase().replace('.PNG', '.Png'));
      copyFileSync(goldenPath(c.image), dest);
      placed.set(c.image, dest);
    });
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    writeFileSync(join(dir, 'broken.png'), 'this is not a png');
    copyFileSync(goldenPath(C.end_to_end.cases[1].image), join(dir, '.hidden', 'x.png'));
    model = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 2 });
    const orig = model.encodeImages.bind(model);
    // counts images the vision tower ran on: a call that fails on an undecodable input runs no image
    model.encodeImages = async (inputs, opts) => {
      const out = await orig(inputs, opts);
      encoded += inputs.length;
      return out;
    };
  });
  after(() => model.dispose());

  test('listImages: recursive, sorted, by extension (any case), hidden entries and other files left out', async () => {
    const got = await listImages(dir);
    assert.equal(got.length, 6);
    assert.ok(got.includes(join(dir, 'broken.png')));
    assert.ok(!got.some((p) => p.includes('.hidden') || p.endsWith('.txt')));
    for (const p of placed.values()) assert.ok(got.includes(p), p);
    assert.deepEqual([...got].sort(), got);
  });

  test('text query: score = cos(golden image feature, golden text feature) (1e-4; JPEG 2e-3), ranked, broken file skipped with a warning', async () => {
    const warnings: string[] = [];
    clearMemoryCache();
    encoded = 0;
    const out = await searchImages(model, dir, { text: 'white cat' }, { cache, top: 10, batchSize: 2, onWarning: (m) => warnings.push(m) });
    assert.equal(out.indexed, 5);
    assert.equal(out.encoded, 5);
    assert.equal(encoded, 5);
    assert.deepEqual(
      out.skipped.map((s) => [s.image, s.code]),
      [[join(dir, 'broken.png'), 'IMAGE_DECODE']],
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /skipping .*broken\.png/);
    const t = unit(C.text_short.features[C.text_short.texts.indexOf('white cat')]);
    assert.equal(out.results.length, 5);
    for (const c of C.end_to_end.cases) {
      const hit = out.results.find((r) => r.path === placed.get(c.image));
      assert.ok(hit, c.image);
      const tol = c.image.endsWith('.jpg') ? 2e-3 : 1e-4;
      assert.ok(Math.abs(hit.score - dot64(unit(c.image_features), t)) <= tol, c.image);
    }
    for (let i = 1; i < out.results.length; i++) assert.ok(out.results[i - 1].score >= out.results[i].score);
    const top2 = await searchImages(model, dir, { text: 'white cat' }, { cache, top: 2 });
    assert.deepEqual(top2.results, out.results.slice(0, 2));
  });

  test('second search over a grown folder encodes only the new content (copies and renames come from the cache)', async () => {
    await searchImages(model, dir, { text: 'a cat' }, { cache });
    clearMemoryCache(); // as a new process would: everything must come from the file
    encoded = 0;
    const again = await searchImages(model, dir, { text: 'a photo of a dog' }, { cache });
    assert.equal(again.encoded, 0);
    assert.equal(encoded, 0);
    assert.equal(again.indexed, 5);
    copyFileSync(goldenPath(C.end_to_end.cases[0].image), join(dir, 'sub', 'renamed copy.jpeg'));
    await sharp({ create: { width: 20, height: 12, channels: 3, background: { r: 200, g: 30, b: 90 } } })
      .png()
      .toFile(join(dir, 'sub', 'new.png'));
    await sharp({ create: { width: 9, height: 9, channels: 3, background: { r: 0, g: 130, b: 250 } } })
      .png()
      .toFile(join(dir, 'sub', 'deeper', 'new2.PNG'));
    const grown = await searchImages(model, dir, { text: 'a photo of a dog' }, { cache, top: 100 });
    assert.equal(grown.indexed, 8);
    assert.equal(grown.encoded, 2);
    assert.equal(encoded, 2);
    const cat = grown.results.find((r) => r.path === placed.get(C.end_to_end.cases[0].image));
    const copy = grown.results.find((r) => r.path.endsWith('renamed copy.jpeg'));
    assert.equal(copy?.score, cat?.score);
  });

  test('image query: scores are cosines between golden image features; the query image itself scores 1 (1e-4)', async () => {
    const q = C.end_to_end.cases[3]; // gray_50x50.png
    const out = await searchImages(model, dir, { image: goldenPath(q.image) }, { cache, top: 100 });
    assert.equal(out.results[0].path, placed.get(q.image));
    assert.ok(Math.abs(out.results[0].score - 1) <= 1e-4);
    for (const c of C.end_to_end.cases) {
      const hit = out.results.find((r) => r.path === placed.get(c.image));
      const tol = c.image.endsWith('.jpg') ? 2e-3 : 1e-4;
      assert.ok(hit && Math.abs(hit.score - dot64(unit(c.image_features), unit(q.image_features))) <= tol, c.image);
    }
  });

  test('a query over 77 tokens goes through the long path: score = cos(image, text_long feature) (1e-4)', async () => {
    const out = await searchImages(model, dir, { text: C.text_long.texts[0] }, { cache, top: 100 });
    const t = unit(C.text_long.features[0]);
    const c = C.end_to_end.cases[2];
    const hit = out.results.find((r) => r.path === placed.get(c.image));
    assert.ok(hit && Math.abs(hit.score - dot64(unit(c.image_features), t)) <= 1e-4);
  });

  test('the preprocessing is part of the cache key: a crop-mode model re-encodes every distinct file', async () => {
    const crop = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 1, preprocess: 'crop' });
    try {
      const out = await searchImages(crop, dir, { text: 'white cat' }, { cache });
      assert.equal(out.indexed, 8);
      assert.equal(out.encoded, 7); // 8 files, one a byte-identical copy
    } finally {
      crop.dispose();
    }
  });

  test('errors: missing folder, a file as folder, empty text, bad top, no query', async () => {
    const isInput = (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID';
    await assert.rejects(searchImages(model, join(dir, 'nope'), { text: 'x' }, { cache }), isInput);
    await assert.rejects(searchImages(model, join(dir, 'notes.txt'), { text: 'x' }, { cache }), /is not a folder/);
    await assert.rejects(searchImages(model, dir, { text: '  ' }, { cache }), /text query is empty/);
    await assert.rejects(searchImages(model, dir, { text: 'x' }, { cache, top: 0 }), /top must be a positive integer/);
    await assert.rejects(searchImages(model, dir, { text: 'x' }, { cache, top: 1001 }), /top must be at most 1000/);
    await assert.rejects(searchImages(model, dir, {} as never, { cache }), /must be \{text\} or \{image\}/);
  });

  test('rename and delete: a renamed file is not embedded again, a deleted one leaves the ranking; two searches at once both answer', async () => {
    const d = mkdtempSync(join(ROOT, 'fgclip-moves-'));
    const [a, b] = C.end_to_end.cases;
    copyFileSync(goldenPath(a.image), join(d, 'a.jpg'));
    copyFileSync(goldenPath(b.image), join(d, 'b.png'));
    const first = await searchImages(model, d, { text: 'white cat' }, { cache });
    assert.deepEqual([first.indexed, first.encoded], [2, 2]);
    renameSync(join(d, 'a.jpg'), join(d, 'renamed.jpg'));
    unlinkSync(join(d, 'b.png'));
    encoded = 0;
    const [x, y] = await Promise.all([searchImages(model, d, { text: 'white cat' }, { cache }), searchImages(model, d, { text: 'a dog' }, { cache })]);
    assert.equal(encoded, 0);
    for (const out of [x, y]) {
      assert.deepEqual(
        out.results.map((r) => r.path),
        [join(d, 'renamed.jpg')],
      );
      assert.deepEqual([out.indexed, out.encoded], [1, 0]);
    }
    const coll = await Collection.open((await folderCollectionPath(model, d, cache)) as string);
    try {
      assert.deepEqual(
        (await coll.entries()).map((e) => e.path),
        [join(d, 'renamed.jpg')],
      );
    } finally {
      coll.close();
    }
  });

  test('a folder whose name has glob characters is searched as that folder', async () => {
    const d = join(mkdtempSync(join(ROOT, 'fgclip-glob-')), 'photos [2024] *');
    mkdirSync(d);
    copyFileSync(goldenPath(C.end_to_end.cases[1].image), join(d, 'one.png'));
    const out = await searchImages(model, d, { text: 'white cat' }, { cache });
    assert.deepEqual(
      out.results.map((r) => r.path),
      [join(d, 'one.png')],
    );
  });

  test('cache: false embeds everything and leaves no collection behind', async () => {
    const d = mkdtempSync(join(ROOT, 'fgclip-nocache-'));
    copyFileSync(goldenPath(C.end_to_end.cases[1].image), join(d, 'one.png'));
    // a private temporary folder (os.tmpdir() reads TMPDIR on every call), to see what the search leaves there
    const tmp = mkdtempSync(join(ROOT, 'tmp-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const out = await searchImages(model, d, { text: 'white cat' }, { cache: false });
      assert.deepEqual([out.indexed, out.encoded, out.results.length], [1, 1, 1]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    assert.deepEqual(readdirSync(tmp), []);
    assert.equal(await folderCollectionPath(model, d, false), undefined);
  });
});
