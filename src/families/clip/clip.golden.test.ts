/**
 * The CLIP family on real numbers: fgclip-tiny's weights saved in Hugging Face's CLIPModel layout (no long tables, no
 * text_filip_projection, no extra temperatures; a legacy OpenAI config with eos_token_id 2) load as CLIP and give the
 * goldens' short-caption, image, dense and region features (rel L2 ≤ 1e-4, goldens/README.md) and probabilities
 * (max abs 1e-4), through the library, the CLI and the server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FgClip } from '../../model/handle.js';
import { createServer } from '../../server/server.js';
import { run } from '../../test-util/cli.js';
import { rejectsWith } from '../../test-util/errors.js';
import { goldenPath, maxAbsDiff, readGoldenJson, relL2 } from '../../test-util/goldens.js';
import { FGCLIP_ONLY_TENSORS, writeClipModel } from '../../test-util/clip-model.js';

interface Cases {
  logit_scale: number;
  text_short: { texts: string[]; input_ids: number[][]; features: number[][] };
  image: { pixel_values: number[][][][]; features: number[][] };
  dense: { features: number[][][] };
  roi: { boxes_grid_xyxy: number[][][]; features: number[][] };
  probs: { texts: string[]; probs: number[][] };
  end_to_end: { cases: { image: string; image_features: number[] }[] };
}

const TOL = 1e-4;
const FGCLIP_ONLY = FGCLIP_ONLY_TENSORS;
const toClipModel = writeClipModel;

const flat = (p: number[][][][]) => Float32Array.from(p.flat(3));

describe('CLIP family: fgclip-tiny weights in the CLIPModel layout', () => {
  const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
  const root = mkdtempSync(join(tmpdir(), 'fgclip-clip-'));
  const dir = join(root, 'clip-tiny');
  let m: FgClip;
  before(async () => {
    await toClipModel(dir);
    m = await FgClip.load(dir, { threads: 1, graphCache: join(root, 'cache') });
  });
  after(() => {
    m?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  test('loads as the clip family: one 77-token text path, every tensor used, crop preprocessing by default', () => {
    assert.equal(m.family, 'clip');
    assert.deepEqual(m.textLengths, { short: 77 });
    assert.deepEqual(m.unknownTensors, []);
    assert.equal(m.preprocessMode, 'crop');
    assert.ok(Math.abs(m.logitScaleLog - C.logit_scale) < 1e-6);
  });

  test(`short-caption features from ids and from strings equal the goldens within rel L2 ${TOL}`, async () => {
    const ids = await m.getTextFeatures(C.text_short.input_ids);
    const str = await m.encodeTexts(C.text_short.texts, { normalize: false });
    C.text_short.features.forEach((f, i) => {
      assert.ok(relL2(ids[i], f) <= TOL, `ids ${i}: ${relL2(ids[i], f)}`);
      assert.ok(relL2(str.embeddings[i], f) <= TOL, `text ${i}: ${relL2(str.embeddings[i], f)}`);
    });
    assert.ok(str.modes.every((x) => x === 'short'));
  });

  test(`image, dense and region features equal the goldens within rel L2 ${TOL}; probabilities within ${TOL}`, async () => {
    const px = flat(C.image.pixel_values);
    const { image, dense } = await m.runVision(px);
    C.image.features.forEach((f, i) => assert.ok(relL2(image[i], f) <= TOL, `image ${i}`));
    C.dense.features.forEach((d, i) => d.forEach((f, k) => assert.ok(relL2(dense[i][k], f) <= TOL, `dense ${i}.${k}`)));
    const roi = await m.getImageBoxRoiFeatures(
      px,
      C.roi.boxes_grid_xyxy.map((b) => b.map((x) => x as unknown as readonly [number, number, number, number])),
    );
    C.roi.features.forEach((f, i) => assert.ok(relL2(roi[i], f) <= TOL, `roi ${i}`));
    const texts = await m.encodeTexts(C.probs.texts);
    C.probs.probs.forEach((p, i) => assert.ok(maxAbsDiff(m.probabilities(image[i], texts.embeddings), p) <= TOL, `probs ${i}`));
  });

  test("a global-only pass (no dense map asked) gives the full pass's image features (max abs 1e-6) and no dense map", async () => {
    const px = flat(C.image.pixel_values);
    const full = await m.runVision(px);
    const global = await m.runVision(px, { dense: false });
    global.image.forEach((v, i) => assert.ok(maxAbsDiff(v, full.image[i]) <= 1e-6, `image ${i}`));
    assert.ok(global.dense.every((d) => d.length === 0));
    const feats = await m.getImageFeatures(px);
    C.image.features.forEach((f, i) => assert.ok(relL2(feats[i], f) <= TOL, `getImageFeatures ${i}`));
  });

  test('long captions: mode long is a typed error; auto keeps them on the 77-token path and reports the cut', async () => {
    const long = 'a photo of a cat '.repeat(30);
    await rejectsWith(m.encodeTexts([long], { mode: 'long' }), 'INPUT_INVALID', /no long-caption path/, 'clip');
    const r = await m.encodeTexts([long]);
    assert.deepEqual(r.modes, ['short']);
    assert.deepEqual(r.truncated, [true]);
    assert.ok(r.tokenCounts[0] > 77);
  });

  test('a second load comes from the graph cache with the same features', async () => {
    const again = await FgClip.load(dir, { threads: 1, graphCache: join(root, 'cache') });
    try {
      assert.equal(again.fromGraphCache, true);
      assert.equal(again.family, 'clip');
      const [a] = await again.getTextFeatures([C.text_short.input_ids[0]]);
      assert.ok(relL2(a, C.text_short.features[0]) <= TOL);
    } finally {
      again.dispose();
    }
  });

  test('an FG-CLIP file labelled CLIPModel loads as CLIP and names the FG-CLIP-only tensors it does not use', async () => {
    const d = join(root, 'labelled');
    await toClipModel(d, FGCLIP_ONLY);
    const warnings: string[] = [];
    const c = await FgClip.load(d, { threads: 1, graphCache: false, onWarning: (w) => warnings.push(w) });
    try {
      assert.deepEqual([...c.unknownTensors].sort(), [...FGCLIP_ONLY].sort());
      assert.ok(
        warnings.some((w) => /5 tensor\(s\) not used by CLIP/.test(w)),
        warnings.join('\n'),
      );
    } finally {
      c.dispose();
    }
  });

  test("CLI: fgclip classify --model <CLIP folder> gives the goldens' probabilities (squash flow, max abs 1e-4)", async () => {
    const labels = ['a photo of a cat', 'a photo of a dog', 'white cat'];
    const cases = C.end_to_end.cases.slice(1, 3);
    const r = await run(['classify', '-m', dir, ...cases.map((c) => goldenPath(c.image)), '--labels', labels.join(','), '--preprocess', 'squash', '--json'], {
      FGCLIP_CACHE: join(root, 'cli-cache'),
    });
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { results: { labels: { label: string; probability: number }[] }[] };
    const unit = (v: readonly number[]) => v.map((x) => x / Math.hypot(...v));
    j.results.forEach((res, i) => {
      const img = unit(cases[i].image_features);
      const cos = labels.map((l) => unit(C.text_short.features[C.text_short.texts.indexOf(l)]).reduce((s, x, k) => s + x * img[k], 0));
      const e = cos.map((c) => Math.exp(Math.exp(C.logit_scale) * c));
      const want = e.map((x) => x / e.reduce((a, b) => a + b, 0));
      const got = new Map(res.labels.map((l) => [l.label, l.probability]));
      assert.ok(
        maxAbsDiff(
          labels.map((l) => got.get(l) ?? NaN),
          want,
        ) <= TOL,
        `image ${i}`,
      );
    });
  });

  test("server: /v1/models shows one 77-token path; /v1/embeddings gives the goldens' normalized short features (rel L2 1e-4)", async () => {
    const server = createServer({ model: m, port: 0, host: '127.0.0.1', log: () => undefined });
    const url = await server.listen();
    try {
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { max_tokens: unknown; dimensions: number }[] };
      assert.deepEqual(models.data[0].max_tokens, { short: 77 });
      assert.equal(models.data[0].dimensions, 24);
      const res = await fetch(`${url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: C.text_short.texts.slice(0, 3) }),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { data: { embedding: number[] }[] };
      body.data.forEach((d, i) => {
        const f = C.text_short.features[i];
        const n = Math.hypot(...f);
        assert.ok(
          relL2(
            d.embedding,
            f.map((x) => x / n),
          ) <= TOL,
          `text ${i}`,
        );
      });
    } finally {
      await server.close();
    }
  });
});
