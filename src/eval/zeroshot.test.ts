/**
 * Zero-shot (ImageFolder) and box-classification (COCO json) harnesses on synthetic data: top-1/top-5 equal an
 * independent computation in the test — class vectors as the mean of normalized prompt features, renormalized;
 * images/regions normalized here; ranks by a stable sort — with class folders created out of sorted order and
 * COCO categories listed out of id order.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FgClipError } from '../errors.js';
import { FgClip } from '../model/handle.js';
import { fillTemplate, IMAGENET_TEMPLATES } from '../tasks/templates.js';
import { goldenPath } from '../test-util/goldens.js';
import { evalBoxes, parseCoco } from './boxes.js';
import { evalZeroshot, readClassnames, readImageFolder } from './zeroshot.js';
import { writePng, unit, dot64 } from '../test-util/fixtures.js';

const rank = (scores: number[], target: number) =>
  scores
    .map((_, i) => i)
    .sort((a, b) => scores[b] - scores[a] || a - b)
    .indexOf(target);

const CLASSES = ['zebra', 'apple', 'monkey', 'cab', 'bicycle', 'lamp', 'pizza'];
const FOLDERS = ['n07', 'n01', 'n05', 'n03', 'n02', 'n06', 'n04']; // created in this order; sorted order differs

describe('eval zeroshot and boxes on fgclip-tiny', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fgclip-zs-'));
  const cache = { dir: join(dir, 'cache') };
  let model: FgClip;
  /** independent class vectors: mean of normalized prompt features, renormalized */
  const classVectors = async (names: string[], templates: readonly string[]) => {
    const out: number[][] = [];
    for (const n of names) {
      const e = (
        await model.encodeTexts(
          templates.map((t) => fillTemplate(t, n)),
          { mode: 'short', normalize: false },
        )
      ).embeddings.map(unit);
      out.push(unit(e[0].map((_, d) => e.reduce((s, v) => s + v[d], 0) / e.length)));
    }
    return out;
  };

  before(async () => {
    model = await FgClip.load(goldenPath('fgclip-tiny'), { threads: 2 });
    let seed = 1;
    for (const f of FOLDERS) {
      mkdirSync(join(dir, 'folder', f, 'nested'), { recursive: true });
      await writePng(join(dir, 'folder', f, 'b.png'), 24, 20, seed++);
      await writePng(join(dir, 'folder', f, 'nested', 'a.png'), 16, 30, seed++);
    }
    writeFileSync(join(dir, 'folder', 'README.txt'), 'not a class');
    // class names in sorted-folder order: n01..n07 → CLASSES[FOLDERS.indexOf(...)]
    writeFileSync(
      join(dir, 'classnames.txt'),
      [...FOLDERS]
        .sort()
        .map((f) => CLASSES[FOLDERS.indexOf(f)])
        .join('\n') + '\n',
    );
    for (let i = 0; i < 3; i++) await writePng(join(dir, `coco${i}.png`), 40 + 10 * i, 36, 100 + i);
  });
  after(() => {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('readImageFolder: classes are the sorted subfolders, images found recursively in sorted order', async () => {
    const f = await readImageFolder(join(dir, 'folder'));
    assert.deepEqual(f.folders, [...FOLDERS].sort());
    assert.equal(f.samples.length, 14);
    assert.deepEqual(f.samples.slice(0, 2), [
      { path: join(dir, 'folder', 'n01', 'b.png'), label: 0 },
      { path: join(dir, 'folder', 'n01', 'nested', 'a.png'), label: 0 },
    ]);
  });

  for (const templates of [['a photo of a {}.', 'a {} again'], 'imagenet'] as const) {
    test(`zeroshot top-1/top-5 (templates ${Array.isArray(templates) ? templates.length : templates}) equal an independent ensemble + ranking`, async () => {
      const folder = await readImageFolder(join(dir, 'folder'));
      const names = readClassnames(join(dir, 'classnames.txt'));
      const r = await evalZeroshot(model, folder, names, { templates, cache, batchSize: 5 });
      const W = await classVectors(names, templates === 'imagenet' ? IMAGENET_TEMPLATES : templates);
      const ranks: number[] = [];
      for (const s of folder.samples) {
        const img = unit((await model.encodeImages([s.path], { normalize: false }))[0].embedding);
        ranks.push(
          rank(
            W.map((w) => dot64(img, w)),
            s.label,
          ),
        );
      }
      assert.equal(r.total, 14);
      assert.equal(r.classes, 7);
      assert.equal(r.templates, templates === 'imagenet' ? 80 : 2);
      assert.equal(r.top1, ranks.filter((x) => x < 1).length / 14);
      assert.equal(r.top5, ranks.filter((x) => x < 5).length / 14);
    });
  }

  test('zeroshot errors: class count mismatch, empty class folder, no class folders, empty classnames file', async () => {
    const folder = await readImageFolder(join(dir, 'folder'));
    await assert.rejects(evalZeroshot(model, folder, ['a', 'b'], { cache }), /2 class names for 7 class folders/);
    mkdirSync(join(dir, 'bad', 'empty-class'), { recursive: true });
    await assert.rejects(readImageFolder(join(dir, 'bad')), /class folder "empty-class" has no images/);
    mkdirSync(join(dir, 'flat'));
    await assert.rejects(readImageFolder(join(dir, 'flat')), /no class subfolders/);
    writeFileSync(join(dir, 'none.txt'), '# only a comment\n');
    assert.throws(() => readClassnames(join(dir, 'none.txt')), /no class names/);
  });

  const coco = () => ({
    images: [
      { id: 7, file_name: 'coco0.png', width: 40, height: 36 },
      { id: 3, file_name: 'coco1.png' },
      { id: 9, file_name: 'coco2.png' },
      { id: 11, file_name: 'unannotated.png' },
    ],
    annotations: [
      { id: 1, image_id: 7, bbox: [0, 0, 40, 36], category_id: 18, iscrowd: 0 },
      { id: 2, image_id: 7, bbox: [5, 5, 10, 12], category_id: 1 },
      { id: 3, image_id: 3, bbox: [20, 10, 25.5, 20], category_id: 3 },
      { id: 4, image_id: 9, bbox: [1, 2, 3, 4], category_id: 18, iscrowd: 1 },
      { id: 5, image_id: 3, bbox: [0, 0, 50, 36], category_id: 44 },
      { id: 6, image_id: 9, bbox: [30, 0, 30, 30], category_id: 2 },
    ],
    categories: [
      { id: 18, name: 'dog' },
      { id: 1, name: 'person' },
      { id: 44, name: 'bottle' },
      { id: 3, name: 'car' },
      { id: 2, name: 'bicycle' },
      { id: 5, name: 'airplane' },
    ],
  });

  test('boxes: top-1/top-5 over every annotation equal an independent RoI-vs-ensemble ranking', async () => {
    const data = parseCoco(JSON.stringify(coco()));
    assert.deepEqual(data.classes, ['person', 'bicycle', 'car', 'airplane', 'dog', 'bottle']);
    assert.equal(data.boxes, 6);
    const r = await evalBoxes(model, data, dir, { templates: ['a photo of a {}.'], cache: false });
    const W = await classVectors(data.classes, ['a photo of a {}.']);
    const ranks: number[] = [];
    for (const a of coco().annotations) {
      const im = coco().images.find((x) => x.id === a.image_id) as { file_name: string };
      const [x, y, w, h] = a.bbox;
      const [enc] = await model.encodeImages([join(dir, im.file_name)], { boxes: [[[x, y, x + w, y + h]]], normalize: false });
      const f = unit((enc.regions ?? [])[0]);
      ranks.push(
        rank(
          W.map((v) => dot64(f, v)),
          data.classes.indexOf(coco().categories.find((c) => c.id === a.category_id)?.name as string),
        ),
      );
    }
    assert.equal(r.total, 6);
    assert.equal(r.images, 3);
    assert.equal(r.top1, ranks.filter((x) => x < 1).length / 6);
    assert.equal(r.top5, ranks.filter((x) => x < 5).length / 6);
  });

  test('boxes errors: unknown category or image, bad bbox, box outside its image (BOX_INVALID naming the annotation)', async () => {
    const c = coco();
    assert.throws(
      () => parseCoco(JSON.stringify({ ...c, annotations: [{ ...c.annotations[0], category_id: 99 }] }), 'i.json'),
      /annotations\[0\] \(id 1\) refers to category_id 99/,
    );
    assert.throws(() => parseCoco(JSON.stringify({ ...c, annotations: [{ ...c.annotations[0], image_id: 99 }] })), /refers to image_id 99/);
    assert.throws(() => parseCoco(JSON.stringify({ ...c, annotations: [{ ...c.annotations[0], bbox: [0, 0, -1, 2] }] })), /bbox must be/);
    assert.throws(() => parseCoco(JSON.stringify({ images: [] })), /missing images, annotations or categories/);
    assert.throws(() => parseCoco(JSON.stringify({ ...c, annotations: [] })), /no annotations/);
    const outside = parseCoco(JSON.stringify({ ...c, annotations: [{ ...c.annotations[0], id: 42, bbox: [500, 0, 5, 5] }] }));
    await assert.rejects(
      evalBoxes(model, outside, dir, { templates: 'none', cache: false }),
      (e: unknown) => e instanceof FgClipError && e.code === 'BOX_INVALID' && /annotation id 42/.test(e.message),
    );
  });
});
