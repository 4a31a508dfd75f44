import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/index.js';
import { FgClip } from '../src/model/handle.js';
import { fgclipTensors } from '../src/families/fgclip/checkpoint.js';
import { readSafetensors } from '../src/weights/index.js';
import { configJson, ensureCheckpoint, parameterCount, Rng, seedOf, SHAPES, tensorSpecs, writeSafetensors, type ModelShape } from './synthetic.js';

describe('synthetic checkpoints: shapes', () => {
  // spec §1.3 "Parameter count (computed from the shapes above)"
  test('parameter counts equal the spec: base 150,136,835, large 428,914,947', () => {
    assert.equal(parameterCount(SHAPES.base), 150_136_835);
    assert.equal(parameterCount(SHAPES.large), 428_914_947);
  });

  for (const name of ['base', 'large'] as const) {
    test(`${name}: config.json parses and its tensor list equals the tensors FG-CLIP's graph builders read (fgclipTensors), shape for shape`, () => {
      const cfg = parseConfig(configJson(SHAPES[name]), `${name}/config.json`);
      const want = fgclipTensors(cfg);
      const got = new Map(tensorSpecs(SHAPES[name]).map((t) => [t.name, [...t.shape]]));
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
      for (const [k, s] of want) assert.deepEqual(got.get(k), s, k);
    });
  }
});

describe('synthetic checkpoints: safetensors writer', () => {
  const tiny: ModelShape = {
    imageSize: 16,
    patchSize: 8,
    vision: { hidden: 8, layers: 1, heads: 2, mlp: 16 },
    text: { hidden: 8, layers: 1, heads: 2, mlp: 16 },
    projection: 4,
  };

  test('the streamed file reads back through the project reader with exactly the seeded values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fgclip-synth-'));
    try {
      const specs = tensorSpecs(tiny);
      writeSafetensors(join(dir, 'model.safetensors'), specs);
      const read = await readSafetensors(join(dir, 'model.safetensors'));
      assert.equal(read.size, specs.length);
      for (const s of specs) {
        const t = read.get(s.name);
        assert.ok(t, s.name);
        assert.deepEqual([...t.shape], [...s.shape]);
        const rng = new Rng(seedOf(s.name));
        const want = Float32Array.from({ length: t.data.length }, () => (s.init.kind === 'const' ? s.init.value : rng.normal() * s.init.std));
        assert.deepEqual(t.data, want, s.name);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('normal weights have mean ≈ 0 and std ≈ 0.02 (|mean| < 1e-3, |std − 0.02| < 1e-3 over 65,536 values)', () => {
    const rng = new Rng(7);
    let m = 0;
    let v = 0;
    const n = 65536;
    for (let i = 0; i < n; i++) {
      const x = rng.normal() * 0.02;
      m += x;
      v += x * x;
    }
    assert.ok(Math.abs(m / n) < 1e-3);
    assert.ok(Math.abs(Math.sqrt(v / n) - 0.02) < 1e-3);
  });

  test('ensureCheckpoint writes a folder FgClip.load accepts (finite outputs), once, then reuses it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fgclip-synth-root-'));
    try {
      const first = ensureCheckpoint('tiny', tiny, root);
      assert.equal(first.generated, true);
      const again = ensureCheckpoint('tiny', tiny, root);
      assert.equal(again.generated, false);
      assert.equal(again.dir, first.dir);
      const m = await FgClip.load(first.dir, { threads: 1 });
      try {
        assert.equal(m.imageSize, 16);
        const [f] = await m.getImageFeatures(new Float32Array(3 * 16 * 16).fill(0.5));
        assert.equal(f.length, 4);
        assert.ok(f.every(Number.isFinite));
        const t = await m.encodeTexts(['a photo of a cat']);
        assert.ok(t.embeddings[0].every(Number.isFinite));
      } finally {
        m.dispose();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
