/**
 * classifyImages behaviour on fgclip-tiny: prompts are encoded once per (model, templates, label) — counted by
 * wrapping encodeTexts — across calls and across processes (disk), unreadable images are skipped with a warning,
 * and bad arguments fail with INPUT_INVALID before any work.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FgClipError } from '../errors.js';
import { FgClip } from '../model/handle.js';
import { goldenPath } from '../test-util/goldens.js';
import { clearMemoryCache } from '../cache/vector-store.js';
import { classifyImages, labelEmbeddings } from './classify.js';

/** every temp folder of this file, removed at the end */
const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-test-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

describe('classifyImages on fgclip-tiny', () => {
  let model: FgClip;
  let prompts = 0;
  const cat = goldenPath('images', 'cat_dfclor.jpg');
  const gray = goldenPath('images', 'gray_50x50.png');
  before(async () => {
    model = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 2 });
    const orig = model.encodeTexts.bind(model);
    model.encodeTexts = async (texts, opts) => {
      prompts += texts.length;
      return orig(texts, opts);
    };
  });
  after(() => model.dispose());

  test('label embeddings are encoded once: memory within a process, the disk file across processes', async () => {
    const cache = { dir: mkdtempSync(join(ROOT, 'fgclip-cache-')) };
    prompts = 0;
    const first = await classifyImages(model, [cat, gray], ['cat', 'dog'], { templates: ['a {}', 'the {}'], cache });
    assert.equal(prompts, 4);
    await classifyImages(model, [gray], ['dog', 'cat'], { templates: ['a {}', 'the {}'], cache });
    assert.equal(prompts, 4, 'second call: from memory');
    clearMemoryCache();
    const third = await classifyImages(model, [cat, gray], ['cat', 'dog'], { templates: ['a {}', 'the {}'], cache });
    assert.equal(prompts, 4, 'new process: from disk');
    assert.deepEqual(third.results, first.results);
    await classifyImages(model, [gray], ['cat', 'dog', 'bird'], { templates: ['a {}', 'the {}'], cache });
    assert.equal(prompts, 6, 'only the new label');
    await classifyImages(model, [gray], ['cat'], { templates: ['a {}'], cache });
    assert.equal(prompts, 7, 'another template set is another key');
    await classifyImages(model, [gray], ['cat', 'cat '], { cache: false });
    assert.equal(prompts, 9, 'cache: false still encodes, labels are keys verbatim');
    const progress: [number, number][] = [];
    await labelEmbeddings(model, ['l1', 'l2', 'l3', 'cat'], {
      templates: ['a {}', 'the {}'],
      cache,
      promptBatch: 4,
      onLabelProgress: (d, t) => progress.push([d, t]),
    });
    assert.deepEqual(
      progress,
      [
        [2, 3],
        [3, 3],
      ],
      'label progress counts only the labels not cached, 2 per call of 4 prompts',
    );
  });

  test('labelEmbeddings with templates none equals the normalized short-path text embedding (bitwise)', async () => {
    const [w] = await labelEmbeddings(model, ['a photo of a cat'], { cache: false });
    const t = await model.encodeTexts(['a photo of a cat'], { mode: 'short' });
    const n = Math.hypot(...t.embeddings[0]);
    assert.ok(Math.abs(n - 1) < 1e-6);
    assert.ok(w.every((x, i) => Math.abs(x - t.embeddings[0][i]) <= 1e-7));
  });

  test('unreadable images are skipped with a warning; the rest are classified in order', async () => {
    const dir = mkdtempSync(join(ROOT, 'fgclip-cls-'));
    const broken = join(dir, 'broken.jpg');
    writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    const warnings: string[] = [];
    const progress: [number, number][] = [];
    const out = await classifyImages(model, [cat, broken, join(dir, 'missing.png'), gray], ['cat', 'dog'], {
      cache: false,
      batchSize: 3,
      onWarning: (m) => warnings.push(m),
      onProgress: (d, t) => progress.push([d, t]),
    });
    assert.deepEqual(
      out.results.map((r) => [r.image, r.index]),
      [
        [cat, 0],
        [gray, 3],
      ],
    );
    assert.deepEqual(
      out.skipped.map((s) => [s.image, s.code]),
      [
        [broken, 'IMAGE_DECODE'],
        [join(dir, 'missing.png'), 'IMAGE_DECODE'],
      ],
    );
    assert.equal(warnings.length, 2);
    assert.deepEqual(progress, [
      [3, 4],
      [4, 4],
    ]);
    const none = await classifyImages(model, [broken], ['cat'], { cache: false });
    assert.deepEqual(none.results, []);
    assert.equal(none.skipped.length, 1);
  });

  test('bytes and decoded images are accepted and named <input N>', async () => {
    const { readFileSync } = await import('node:fs');
    const out = await classifyImages(model, [readFileSync(gray)], ['cat', 'dog'], { cache: false });
    assert.equal(out.results[0].image, '<input 0>');
    const ref = await classifyImages(model, [gray], ['cat', 'dog'], { cache: false });
    assert.deepEqual(out.results[0].labels, ref.results[0].labels);
  });

  test('errors: empty label list, empty label, duplicate label, no images, bad top/batchSize/scale, bad templates', async () => {
    const bad = (re: RegExp) => (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID' && re.test(e.message);
    await assert.rejects(classifyImages(model, [cat], [], { cache: false }), bad(/label list is empty/));
    await assert.rejects(classifyImages(model, [cat], ['cat', ' '], { cache: false }), bad(/label 2 is empty/));
    await assert.rejects(classifyImages(model, [cat], ['cat', 'dog', 'cat'], { cache: false }), bad(/label 3 "cat" repeats label 1/));
    await assert.rejects(classifyImages(model, [], ['cat'], { cache: false }), bad(/list of images is empty/));
    await assert.rejects(classifyImages(model, [cat], ['cat'], { cache: false, top: 0 }), bad(/top must be a positive integer/));
    await assert.rejects(classifyImages(model, [cat], ['cat'], { cache: false, batchSize: 1.5 }), bad(/batchSize/));
    await assert.rejects(classifyImages(model, [cat], ['cat'], { cache: false, scale: -1 }), bad(/scale/));
    await assert.rejects(classifyImages(model, [cat], ['cat'], { cache: false, templates: ['no slot'] }), bad(/exactly one \{\}/));
  });
});
