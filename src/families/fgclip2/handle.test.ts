/**
 * FG-CLIP 2 through the generic handle and the CLI: FgClip.load dispatches on config.json, texts take the
 * short/box/long walks, images go through NaFlex with their own grids, probabilities are sigmoids — each compared
 * with the goldens-v2 reference at the README tolerances (relative L2 1e-4, probabilities 1e-4).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isFgClipError } from '../../errors.js';
import { FgClip } from '../../model/handle.js';
import { run as runCli } from '../../test-util/cli.js';
import { relL2 } from '../../test-util/goldens.js';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';

interface Cases {
  text_box: { lowered: string[]; texts: string[]; features: number[][] };
  text_long: { lowered: string[]; features: number[][] };
  probs: { long: { text_long_rows: number[] } };
  end_to_end: {
    cases: {
      image: string;
      image_features: number[];
      spatial_shapes: [number, number];
      boxes_xyxy_pixels: [number, number, number, number][];
      region_features: number[][];
      card_long_probs: number[];
    }[];
  };
}

const dir = goldenV2Path('fgclip2-tiny');
const cases = readGoldenV2Json<Cases>('fgclip2-tiny.cases.json');

describe('FgClip.load on an FG-CLIP 2 checkpoint (tiny)', () => {
  let m: FgClip;
  before(async () => {
    m = await FgClip.load(dir, { threads: 1, graphCache: false });
  });
  after(() => m?.dispose());

  it('picks the fgclip2 family; text lengths 64 / 196 / box 64; sigmoid scores', () => {
    assert.equal(m.family, 'fgclip2');
    assert.deepEqual(m.textLengths, { short: 64, long: 196, box: 64 });
    assert.equal(m.scoreKind, 'sigmoid');
  });

  it('encodeTexts mode box / long (texts as written: lowercased by the family) = reference, raw', async () => {
    const box = await m.encodeTexts(cases.text_box.texts, { mode: 'box', normalize: false });
    box.embeddings.forEach((e, i) => assert.ok(relL2(e, cases.text_box.features[i]) <= 1e-4, `box ${i}`));
    const long = await m.encodeTexts(cases.text_long.lowered, { mode: 'long', normalize: false });
    long.embeddings.forEach((e, i) => assert.ok(relL2(e, cases.text_long.features[i]) <= 1e-4, `long ${i}`));
  });

  it('encodeImages: per-image grid, regions on the own grid, sigmoid probabilities of the model card', async () => {
    const c = cases.end_to_end.cases.find((x) => x.image.endsWith('.png')) ?? cases.end_to_end.cases[0];
    const [r] = await m.encodeImages([goldenV2Path(c.image)], {
      normalize: false,
      boxes: [c.boxes_xyxy_pixels.filter((b) => b[2] > b[0] && b[3] > b[1] && b[2] > 0 && b[3] > 0)],
    });
    assert.deepEqual(r.grid, c.spatial_shapes);
    assert.ok(relL2(r.embedding, c.image_features) <= 1e-4);
    const kept = c.boxes_xyxy_pixels.map((b, k) => [b, k] as const).filter(([b]) => b[2] > b[0] && b[3] > b[1] && b[2] > 0 && b[3] > 0);
    r.regions?.forEach((f, i) => assert.ok(relL2(f, c.region_features[kept[i][1]]) <= 1e-4, `region ${i}`));
    const texts = await m.encodeTexts(
      cases.probs.long.text_long_rows.map((i) => cases.text_long.lowered[i]),
      { mode: 'long' },
    );
    const p = m.probabilities(r.embedding, texts.embeddings);
    p.forEach((v, i) => assert.ok(Math.abs(v - c.card_long_probs[i]) <= 1e-4, `prob ${i}: ${v} vs ${c.card_long_probs[i]}`));
  });

  it('square-pixel entry points and an imageSize option are refused with typed errors', async () => {
    await assert.rejects(m.runVision(new Float32Array(3 * 64 * 64)), (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID');
    await assert.rejects(FgClip.load(dir, { imageSize: 224, graphCache: false }), (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID');
  });
});

describe('CLI on an FG-CLIP 2 checkpoint', () => {
  it('tokenize defaults to 64 tokens; embed --walk box gives the reference box features; bad --walk is a usage error', async () => {
    const t = await runCli(['tokenize', '--model', dir, '--json', 'a photo of a cat']);
    assert.equal(t.code, 0, t.err);
    assert.equal(JSON.parse(t.out).ids[0].length, 64);
    const e = await runCli(['embed', '--model', dir, '--walk', 'box', '--raw', '--json', '--text', cases.text_box.lowered[0]]);
    assert.equal(e.code, 0, e.err);
    assert.ok(relL2(JSON.parse(e.out).embeddings[0], cases.text_box.features[0]) <= 1e-4);
    const c = await runCli(['classify', '--model', dir, goldenV2Path('images/gradient_120x90.png'), '--labels', 'a cat,a dog', '--json', '--no-cache']);
    assert.equal(c.code, 0, c.err);
    const out = JSON.parse(c.out);
    assert.equal(out.scoring, 'sigmoid');
    const probs = out.results[0].labels.map((l: { probability: number }) => l.probability);
    assert.ok(probs.every((p: number) => p > 0 && p < 1) && Math.abs(probs[0] + probs[1] - 1) > 1e-6, 'independent sigmoids, not a softmax');
    const bad = await runCli(['embed', '--model', dir, '--walk', 'diagonal', '--text', 'x']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /--walk/);
  });
});

describe('fgclip loss on an FG-CLIP 2 checkpoint', () => {
  it('--json gives the reference stage-2 loss (relative 1e-4) and every gradient norm (1e-3·n + 1e-5)', async () => {
    const f = goldenV2Path('fgclip2-tiny.loss.json');
    const want = readGoldenV2Json<{ loss: number; grad_norms: Record<string, number> }>('fgclip2-tiny.loss.json');
    const r = await runCli(['loss', '--model', dir, '--batch', f, '--json', '--threads', '1']);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out);
    assert.ok(Math.abs(out.loss - want.loss) <= 1e-4 * Math.abs(want.loss), `${out.loss} vs ${want.loss}`);
    assert.deepEqual(Object.keys(out.grad_norms).sort(), Object.keys(want.grad_norms).sort());
    for (const [k, v] of Object.entries(want.grad_norms))
      if (v > 1e-9) assert.ok(Math.abs(out.grad_norms[k] - v) <= 1e-3 * v + 1e-5, `${k}: ${out.grad_norms[k]} vs ${v}`);
    const bad = await runCli(['loss', '--model', dir, '--batch', f.replace('.loss.json', '.cases.json'), '--json']);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.err.trim().split('\n').length, 1, bad.err);
  });
});
