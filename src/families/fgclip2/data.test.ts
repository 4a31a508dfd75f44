/**
 * FineHARD records → FG-CLIP 2 stage-2 batches (data.ts), and training from them (train.ts `data`).
 *
 * - The goldens' loss batches (fgclip2-{tiny,small}.loss.json) list the texts they were tokenized from; the same
 *   content written as FineHARD JSONL records and batched by the loader gives identical token ids for the 64-token
 *   short captions ("a photo of " prefix, lowercased), the 196-token long captions, the 4 box slots per image (empty
 *   slots: "" and [0,0,0,0]), the packed hard boxes and their 11 texts each (positive as written, negatives
 *   lowercased), and the same box coordinates and counts.
 * - Images: sides under 128 px are squashed to 512² (Pillow bicubic) first; the batch's budget is the card's bucket
 *   of the largest (W//16)·(H//16); every image goes through NaFlex at that budget.
 * - Chinese pairs (`is_cn`): no prefix, no boxes. Records without short_caption or English ones without bbox_info are
 *   refused with their line.
 * - Training: a tiny run from JSONL + images trains (loss finite, θ carried), writes checkpoints, and a run stopped
 *   after checkpoint 2 and resumed ends bit-identical to the straight run (weights, θ, log lines); the CLI takes the
 *   same file with --images.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isFgClipError } from '../../errors.js';
import { FgClip } from '../../model/handle.js';
import { decodeImage } from '../../preprocess/decode.js';
import { naflexPreprocess } from '../../preprocess/naflex.js';
import { resizeBicubic } from '../../preprocess/resize.js';
import { run as runCli } from '../../test-util/cli.js';
import { goldenPath as goldenPathV1 } from '../../test-util/goldens.js';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import { readRecords } from '../../train/data/records.js';
import { recordRandom } from '../../train/data/rng.js';
import { SentencePieceBpeTokenizer } from '../../tokenizer/sp-bpe-tokenizer.js';
import { nodeFolder } from '../../platform/node/folder.js';
import { parseFgclip2Config, parseFgclip2Preprocess } from './config.js';
import { batchPatchBudget, bilingualOrder, Fgclip2BatchLoader, loadTrainImage } from './data.js';
import { trainFgclip2, type Fgclip2StepRecord } from './train.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip2-data-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

interface LossInputs {
  images: string[];
  text_short_texts: string[];
  text_short: number[][];
  text_long_texts: string[];
  text_long: number[][];
  box_infos_normalized_xyxy: number[][];
  box_texts_texts: string[];
  box_texts: number[][];
  box_nums: number[];
  hard_infos_normalized_xyxy: number[][];
  hard_texts_texts: string[];
  hard_texts: number[][];
  hard_nums: number[];
}

const K = 4;
const PREFIX = 'a photo of ';

/**
 * The golden batch's content as FineHARD records (one per image). A hard box's short_expr is its positive as written;
 * the box text is the short or the long expression (the seeded coin), so long_expr holds the box text and a seed is
 * chosen for which the coin takes the long one wherever the two differ.
 */
function recordsOf(inp: LossInputs): { lines: string[]; seed: number } {
  const mustBeLong: [number, number][] = [];
  let hardAt = 0;
  const lines = inp.images.map((image, i) => {
    const hard = inp.hard_infos_normalized_xyxy.slice(i * K, i * K + inp.hard_nums[i]);
    const bbox_info = Array.from({ length: inp.box_nums[i] }, (_, k) => {
      const bbox = inp.box_infos_normalized_xyxy[i * K + k];
      const text = inp.box_texts_texts[i * K + k];
      const h = hard.findIndex((b) => b.every((v, j) => v === bbox[j]));
      if (h < 0) return { bbox, short_expr: text, long_expr: text, flag_short_neg: 0 };
      const texts = inp.hard_texts_texts.slice((hardAt + h) * 11, (hardAt + h + 1) * 11);
      if (texts[0].toLowerCase() !== text) mustBeLong.push([i, k]);
      return {
        bbox,
        short_expr: texts[0],
        long_expr: text,
        flag_short_neg: 1,
        short_expr_negs: Object.fromEntries(texts.slice(1).map((t, n) => [`neg_${n}`, t])),
      };
    });
    hardAt += inp.hard_nums[i];
    assert.ok(inp.text_short_texts[i].startsWith(PREFIX));
    return JSON.stringify({ f_path: image, caption: inp.text_long_texts[i], short_caption: inp.text_short_texts[i].slice(PREFIX.length), bbox_info });
  });
  let seed = 0;
  while (!mustBeLong.every(([i, k]) => recordRandom(seed, 0, i, k + 1) >= 0.5)) seed++;
  return { lines, seed };
}

async function loaderFor(
  model: string,
  file: string,
  opts: { seed: number; batchSize: number; shuffle?: boolean; bilingual?: boolean; onBadRecord?: 'skip' | 'fail'; imagesDir?: string },
) {
  const config = parseFgclip2Config(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')), 'config.json');
  const preprocess = parseFgclip2Preprocess(
    JSON.parse(readFileSync(join(model, 'preprocessor_config.json'), 'utf8')),
    'preprocessor_config.json',
    config.vision_config.patch_size,
  );
  const tokenizer = await SentencePieceBpeTokenizer.fromFolder(nodeFolder(model));
  const { records, bad } = readRecords(file, { imagesDir: opts.imagesDir ?? goldenV2Path() });
  assert.deepEqual(bad, []);
  return {
    loader: new Fgclip2BatchLoader({ records, tokenizer, preprocess, shortLength: 64, longLength: 196, shuffle: opts.shuffle ?? false, ...opts }),
    preprocess,
  };
}

describe('FineHARD records → FG-CLIP 2 batches', () => {
  for (const name of ['fgclip2-tiny', 'fgclip2-small']) {
    it(`${name}: the token ids, boxes and counts of the goldens' loss batch, from the same content as JSONL records`, async () => {
      const inp = readGoldenV2Json<{ inputs: LossInputs }>(`${name}.loss.json`).inputs;
      const { lines, seed } = recordsOf(inp);
      const file = join(ROOT, `${name}.jsonl`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      const { loader, preprocess } = await loaderFor(goldenV2Path(name), file, { seed, batchSize: 4 });
      const b = await loader.load({ epoch: 0, index: 0 });
      assert.deepEqual(b.next, { epoch: 0, index: 4 });
      const batch = b.batch;
      assert.deepEqual(batch.textShort, inp.text_short);
      assert.deepEqual(batch.textLong, inp.text_long);
      assert.deepEqual(batch.boxTexts, inp.box_texts);
      assert.deepEqual(batch.boxInfos, inp.box_infos_normalized_xyxy);
      assert.deepEqual(batch.boxNums, inp.box_nums);
      assert.deepEqual(batch.hardInfos, inp.hard_infos_normalized_xyxy);
      assert.deepEqual(batch.hardTexts, inp.hard_texts);
      assert.deepEqual(batch.hardNums, inp.hard_nums);
      // images: small ones squashed to 512² (bicubic), one budget for the batch (the largest image's bucket)
      const decoded = await Promise.all(inp.images.map((p) => decodeImage(goldenV2Path(p))));
      const squashed = decoded.map((im) => (im.width < 128 || im.height < 128 ? resizeBicubic(im, 512, 512) : im));
      assert.deepEqual(
        squashed.map((im) => [im.width, im.height]),
        [
          [640, 480],
          [512, 512],
          [512, 512],
          [512, 512],
        ],
      );
      const budget = batchPatchBudget(squashed);
      assert.equal(budget, 1024);
      squashed.forEach((im, i) => {
        const want = naflexPreprocess(im, {
          patchSize: preprocess.patch_size,
          maxNumPatches: budget,
          dynamic: false,
          rescaleFactor: preprocess.rescale_factor,
          mean: preprocess.image_mean,
          std: preprocess.image_std,
        });
        assert.deepEqual(batch.spatialShapes[i], want.spatialShape);
        assert.deepEqual(batch.pixelAttentionMask[i], Array.from(want.mask));
        assert.deepEqual(batch.pixelValues[i], want.pixelValues);
        assert.equal(batch.pixelValues[i].length, budget * 3 * preprocess.patch_size ** 2);
      });
      const again = await loadTrainImage(goldenV2Path(inp.images[1]));
      assert.deepEqual(again.data, squashed[1].data);
    });
  }

  it('Chinese pairs (is_cn): no prefix, no boxes; a 120×90 image is squashed to 512² first', async () => {
    const dir = join(ROOT, 'cn');
    mkdirSync(dir);
    copyFileSync(goldenV2Path('images', 'gradient_120x90.png'), join(dir, 'g.png'));
    const file = join(dir, 'd.jsonl');
    writeFileSync(file, `${JSON.stringify({ f_path: 'g.png', caption: '一只黑猫坐在窗台上', short_caption: '黑猫', is_cn: 1 })}\n`);
    const model = goldenV2Path('fgclip2-tiny');
    const tokenizer = await SentencePieceBpeTokenizer.fromFolder(nodeFolder(model));
    const config = parseFgclip2Config(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')), 'config.json');
    const preprocess = parseFgclip2Preprocess(JSON.parse(readFileSync(join(model, 'preprocessor_config.json'), 'utf8')), 'p', config.vision_config.patch_size);
    const { records } = readRecords(file);
    assert.equal(records[0].isCn, true);
    const loader = new Fgclip2BatchLoader({ records, tokenizer, preprocess, shortLength: 64, longLength: 196, seed: 0, batchSize: 2 });
    const { batch } = await loader.load({ epoch: 0, index: 0 });
    assert.deepEqual(batch.textShort[0], [...tokenizer.encode('黑猫', { maxLength: 64 }).ids]);
    assert.deepEqual(batch.boxNums, [0]);
    assert.deepEqual(batch.hardNums, [0]);
    assert.deepEqual(
      batch.boxInfos,
      Array.from({ length: 4 }, () => [0, 0, 0, 0]),
    );
    assert.deepEqual(batch.hardTexts, []);
    // 90 < 128: squashed to 512², whose (512//16)² = 1024 tokens take the 1024 bucket
    assert.equal(batch.pixelAttentionMask[0].length, 1024);
  });

  it('records the dataset cannot use are refused with their line', async () => {
    const file = join(ROOT, 'bad.jsonl');
    writeFileSync(
      file,
      `${JSON.stringify({ f_path: 'x.png', caption: 'a cat', short_caption: 'cat' })}\n${JSON.stringify({ f_path: 'y.png', caption: 'a dog' })}\n`,
    );
    const model = goldenV2Path('fgclip2-tiny');
    await assert.rejects(
      trainFgclip2({ model, data: file, out: join(ROOT, 'bad-out'), steps: 1 }),
      (e: unknown) =>
        isFgClipError(e) &&
        e.code === 'INPUT_INVALID' &&
        /bad\.jsonl:1: missing field bbox_info/.test(e.message) &&
        /bad\.jsonl:2: missing field short_caption/.test(e.message),
    );
  });
});

describe('trainFgclip2 on FineHARD records (JSONL + images)', () => {
  const model = goldenV2Path('fgclip2-tiny');
  const images = join(ROOT, 'imgs');
  const file = join(ROOT, 'train.jsonl');
  const inp = readGoldenV2Json<{ inputs: LossInputs }>('fgclip2-tiny.loss.json').inputs;
  mkdirSync(join(images, 'images'), { recursive: true });
  for (const p of inp.images) copyFileSync(goldenV2Path(p), join(images, p));
  writeFileSync(file, `${recordsOf(inp).lines.join('\n')}\n`);
  const common = { model, data: file, imagesDir: images, batchSize: 2, seed: 3, steps: 3, lr: 1e-3, warmupSteps: 0, threads: 1, saveEvery: 1 } as const;
  let straight: { params: Map<string, Float32Array>; log: Fgclip2StepRecord[]; threshold: number };

  it('trains: 3 steps over 2 epochs of 2 batches, checkpoints with the data position, a final folder that loads', async () => {
    const log: Fgclip2StepRecord[] = [];
    const out = join(ROOT, 'straight');
    const r = await trainFgclip2({ ...common, out, onStep: (s) => log.push(s) });
    straight = { params: new Map(r.params), log, threshold: r.threshold };
    assert.equal(r.steps, 3);
    assert.deepEqual(
      log.map((s) => [s.epoch, s.line, s.records?.length]),
      [
        [0, 1, 2],
        [0, 2, 2],
        [1, 1, 2],
      ],
    );
    assert.deepEqual(new Set(log.slice(0, 2).flatMap((s) => s.records ?? [])).size, 4, 'epoch 0 sees every record once');
    assert.ok(log.every((s) => Number.isFinite(s.loss) && s.loss > 0));
    for (let i = 1; i < 3; i++) assert.equal(log[i].threshold, log[i - 1].nextThreshold);
    const state = JSON.parse(readFileSync(join(out, 'checkpoint-2', 'trainer_state.json'), 'utf8'));
    assert.deepEqual(state.data, { epoch: 0, index: 4 });
    const m = await FgClip.load(r.finalDir, { graphCache: false, preprocessWorkers: 0 });
    m.dispose();
  });

  it('stopped after checkpoint 2 and resumed: bit-identical weights, θ and step records', async () => {
    const out = join(ROOT, 'resumed');
    const first: Fgclip2StepRecord[] = [];
    await assert.rejects(
      trainFgclip2({
        ...common,
        out,
        onStep: (s) => first.push(s),
        afterStep: (s) => {
          if (s === 2) throw new Error('stop');
        },
      }),
      /stop/,
    );
    const rest: Fgclip2StepRecord[] = [];
    const r = await trainFgclip2({ ...common, out, onStep: (s) => rest.push(s) });
    assert.equal(r.resumedFrom, 2);
    assert.equal(r.threshold, straight.threshold);
    const strip = (s: Fgclip2StepRecord) => ({ ...s, seconds: 0 });
    assert.deepEqual([...first, ...rest].map(strip), straight.log.map(strip));
    for (const [k, v] of straight.params) assert.deepEqual(r.params.get(k), v, k);
  });

  it('fgclip train --data records.jsonl --images DIR on an FG-CLIP 2 checkpoint', async () => {
    const out = join(ROOT, 'cli');
    const r = await runCli([
      'train',
      '--model',
      model,
      '--data',
      file,
      '--images',
      images,
      '--batch-size',
      '2',
      '--out',
      out,
      '--steps',
      '1',
      '--lr',
      '1e-3',
      '--warmup-steps',
      '0',
      '--threads',
      '1',
      '--json',
    ]);
    assert.equal(r.code, 0, r.err);
    const s = JSON.parse(r.out);
    assert.equal(s.family, 'fgclip2');
    assert.equal(s.steps, 1);
    const log = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(log[0].records.length, 2);
  });
});

describe("bilingual batches (the authors' BilingualSampler, --bilingual)", () => {
  // 4 Chinese records (0, 3, 5, 7) and 5 English ones (1, 2, 4, 6, 8)
  const cn = [true, false, false, true, false, true, false, true, false];

  it('bilingualOrder: each language in file order cut into batches, its last partial batch dropped, batches shuffled whole', () => {
    assert.deepEqual([...bilingualOrder(cn, 2, 7, 0, false)], [0, 3, 5, 7, 1, 2, 4, 6]);
    const groups = (o: Uint32Array) => Array.from({ length: o.length / 2 }, (_, k) => [o[2 * k], o[2 * k + 1]].join(','));
    const want = ['0,3', '5,7', '1,2', '4,6'];
    const seen = new Set<string>();
    for (let epoch = 0; epoch < 6; epoch++) {
      const o = bilingualOrder(cn, 2, 7, epoch);
      assert.deepEqual(groups(o).sort(), [...want].sort(), `epoch ${epoch}: the same batches, whole, record 8 never`);
      assert.deepEqual([...bilingualOrder(cn, 2, 7, epoch)], [...o], 'deterministic per (seed, epoch)');
      seen.add(groups(o).join(' '));
    }
    assert.ok(seen.size > 1, 'the batch order changes with the epoch');
    assert.deepEqual([...bilingualOrder([true, true, true], 4, 0, 0)], [], 'fewer records than a batch: no batch');
  });

  const dir = join(ROOT, 'bilingual');
  const file = join(dir, 'd.jsonl');
  mkdirSync(dir, { recursive: true });
  copyFileSync(goldenV2Path('images', 'gradient_120x90.png'), join(dir, 'g.png'));
  writeFileSync(
    file,
    `${cn
      .map((isCn, i) =>
        JSON.stringify(
          isCn
            ? { f_path: i === 5 ? 'missing.png' : 'g.png', caption: `一只猫 ${i}`, short_caption: `猫 ${i}`, is_cn: 1 }
            : { f_path: 'g.png', caption: `a cat number ${i}`, short_caption: `cat ${i}`, bbox_info: [] },
        ),
      )
      .join('\n')}\n`,
  );
  const lang = (where: string) => (cn[Number(/:(\d+)$/.exec(where)?.[1]) - 1] ? 'cn' : 'en');

  it('the loader: every batch one language, never filled from the other; a skipped record makes its batch smaller', async () => {
    const skipped: string[] = [];
    const { loader } = await loaderFor(goldenV2Path('fgclip2-tiny'), file, { seed: 1, batchSize: 2, bilingual: true, onBadRecord: 'skip', imagesDir: dir });
    assert.equal(loader.stepsPerEpoch, 4);
    let pos = { epoch: 0, index: 0 };
    const batches: string[][] = [];
    for (let k = 0; k < 4; k++) {
      const b = await loader.load(pos);
      assert.equal(b.epoch, 0);
      for (const s of b.skipped) skipped.push(s.where);
      batches.push([...b.records]);
      pos = b.next;
    }
    assert.deepEqual(pos, { epoch: 0, index: 8 });
    for (const b of batches) assert.equal(new Set(b.map(lang)).size, 1, `one language: ${b.join(' ')}`);
    // record 6 of the file (index 5, Chinese) has no image: its batch is the other Chinese record alone
    assert.deepEqual(skipped, [`${file}:6`]);
    assert.deepEqual(batches.map((b) => b.length).sort(), [1, 2, 2, 2]);
    const all = batches.flat();
    assert.ok(!all.includes(`${file}:9`), "the English language's partial last batch is dropped, as the reference does");
    assert.equal(new Set(all).size, 7);
    // the next load starts epoch 1
    assert.equal((await loader.load(pos)).epoch, 1);
  });

  it('a language with fewer records than a batch is INPUT_INVALID saying the counts', async () => {
    await assert.rejects(
      loaderFor(goldenV2Path('fgclip2-tiny'), file, { seed: 1, batchSize: 5, bilingual: true, imagesDir: dir }),
      (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID' && /got 4 Chinese \("is_cn"\) and 5 English records/.test(e.message),
    );
  });

  it('trainFgclip2 with bilingual: each step one language; the CLI refuses --bilingual where it cannot apply', async () => {
    const log: Fgclip2StepRecord[] = [];
    const model = goldenV2Path('fgclip2-tiny');
    const good = join(dir, 'good.jsonl');
    writeFileSync(good, readFileSync(file, 'utf8').replace('missing.png', 'g.png'));
    await trainFgclip2({
      model,
      data: good,
      imagesDir: dir,
      bilingual: true,
      batchSize: 2,
      seed: 2,
      steps: 2,
      lr: 1e-3,
      warmupSteps: 0,
      threads: 1,
      out: join(dir, 'out'),
      onStep: (s) => log.push(s),
    });
    assert.equal(log.length, 2);
    for (const s of log) assert.equal(new Set((s.records ?? []).map((w) => lang(w.replace(good, file)))).size, 1, (s.records ?? []).join(' '));
    const v1 = await runCli(['train', '--model', goldenPathV1('fgclip-tiny'), '--data', good, '--out', join(dir, 'v1'), '--bilingual', '--steps', '1']);
    assert.equal(v1.code, 2, v1.err);
    assert.match(v1.err, /--bilingual is for FG-CLIP 2 checkpoints/);
  });
});
