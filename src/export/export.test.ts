/**
 * `fgclip export` against the library and the reference: the exported ONNX files, loaded by path in
 * onnxruntime-node with inputs computed only from the manifest and text-positions.bin, give
 *  - exactly the library's numbers for the same dtype (max abs diff 0: same graph, same runtime), and
 *  - the goldens' features within their README tolerance (rel L2 ≤ 1e-4) for fp32;
 * the manifest lists every file with its true size and sha256; errors are typed and leave no partial folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { FgClipConfig } from '../config/types.js';
import { isFgClipError } from '../errors.js';
import { FgClip } from '../model/handle.js';
import { prepareTextBatch, type TextMode } from '../families/fgclip/text-inputs.js';
import { run } from '../test-util/cli.js';
import { goldenPath, maxAbsDiff, readGoldenJson, relL2 } from '../test-util/goldens.js';
import { exportModel, sha256File } from './export.js';
import { EXPORT_MANIFEST, parseManifest, type ExportManifest } from './manifest.js';

interface Cases {
  text_short: { input_ids: number[][]; features: number[][] };
  text_long: { input_ids: number[][]; features: number[][] };
  image: { pixel_values: number[][][][]; features: number[][] };
  dense: { features: number[][][] };
}

const scratch = mkdtempSync(join(tmpdir(), 'fgclip-export-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** What a consumer of the folder does: sessions from the two model files, text inputs from the manifest alone. */
class Exported {
  private constructor(
    readonly m: ExportManifest,
    private readonly vision: ort.InferenceSession,
    private readonly text: ort.InferenceSession,
    private readonly positions: Float32Array,
  ) {}

  static async open(dir: string): Promise<Exported> {
    const m = parseManifest(readFileSync(join(dir, EXPORT_MANIFEST), 'utf8'));
    const so: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 2, graphOptimizationLevel: 'all' };
    const vision = await ort.InferenceSession.create(join(dir, m.graphs.vision.model), so);
    const text = await ort.InferenceSession.create(join(dir, m.graphs.text.model), so);
    const b = readFileSync(join(dir, m.positions.file));
    const positions = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    return new Exported(m, vision, text, positions);
  }

  async image(pixels: Float32Array): Promise<{ image: Float32Array; dense: Float32Array }> {
    const S = this.m.imageSize;
    const out = await this.vision.run({ pixel_values: new ort.Tensor('float32', pixels, [pixels.length / (3 * S * S), 3, S, S]) });
    return { image: out.image_embeds.data as Float32Array, dense: out.dense_embeds.data as Float32Array };
  }

  async texts(ids: number[][], mode: TextMode): Promise<Float32Array> {
    const { shortLength: s, longLength: l, eosTokenId, vocabSize } = this.m.text;
    const D = this.m.textHiddenSize;
    const tables = { shortPositions: this.positions.subarray(0, s * D), longPositions: this.positions.subarray(s * D) };
    // prepareTextBatch reads only these config fields
    const config = {
      text_config: { hidden_size: D, max_position_embeddings: s, eos_token_id: eosTokenId, vocab_size: vocabSize },
      long_max_length: l,
    } as unknown as FgClipConfig;
    const b = prepareTextBatch(config, tables, ids, mode);
    const out = await this.text.run({
      input_ids: new ort.Tensor('int64', b.ids, [b.B, b.T]),
      position_embeds: new ort.Tensor('float32', b.positions, [b.T, D]),
      causal_mask: new ort.Tensor('float32', b.mask, [b.T, b.T]),
      pool_index: new ort.Tensor('int64', b.poolIndex, [b.B]),
    });
    return out[mode === 'short' ? 'text_embeds_short' : 'text_embeds_long'].data as Float32Array;
  }

  async close(): Promise<void> {
    await this.vision.release();
    await this.text.release();
  }
}

const rows = (flat: Float32Array, n: number) => Array.from({ length: flat.length / n }, (_, i) => flat.subarray(i * n, (i + 1) * n));

for (const size of ['tiny', 'small'] as const) {
  for (const dtype of ['fp32', 'int8', 'fp16'] as const) {
    describe(`fgclip-${size} exported as ${dtype}`, () => {
      const cases = readGoldenJson<Cases>(`fgclip-${size}.cases.json`);
      const out = join(scratch, `${size}-${dtype}`);
      let ex: Exported;
      let lib: FgClip;
      before(async () => {
        await exportModel(goldenPath(`fgclip-${size}`), out, { dtype });
        ex = await Exported.open(out);
        lib = await FgClip.load(goldenPath(`fgclip-${size}`), { threads: 2, dtype, graphCache: false });
      });
      after(async () => {
        await ex?.close();
        lib?.dispose();
      });

      test('the manifest lists every file of the folder with its size and sha256', async () => {
        const listed = Object.keys(ex.m.files).sort();
        const onDisk = (readdirSync(out, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(out.length + 1))
          .filter((f) => f !== EXPORT_MANIFEST)
          .sort();
        assert.deepEqual(listed, onDisk);
        for (const [f, spec] of Object.entries(ex.m.files)) assert.equal(await sha256File(join(out, f)), spec.sha256, f);
        assert.ok(['config.json', 'tokenizer.json', 'preprocessor_config.json'].every((f) => f in ex.m.files));
        assert.equal(ex.m.dtype, dtype);
      });

      test('vision graph in onnxruntime-node: image and dense features identical to the library (same dtype)', async () => {
        const px = new Float32Array(cases.image.pixel_values.flat(3));
        const got = await ex.image(px);
        const want = await lib.runVision(px);
        assert.equal(maxAbsDiff(got.image, flatten(want.image)), 0);
        assert.equal(maxAbsDiff(got.dense, flatten(want.dense.flat())), 0);
        if (dtype === 'fp32') {
          const P = ex.m.projectionDim;
          rows(got.image, P).forEach((v, i) => assert.ok(relL2(v, cases.image.features[i]) <= 1e-4, `image[${i}] vs golden`));
          cases.dense.features.forEach((d, i) =>
            assert.ok(relL2(got.dense.subarray(i * d.length * P, (i + 1) * d.length * P), d.flat()) <= 1e-4, `dense[${i}] vs golden`),
          );
        }
      });

      test('text graph in onnxruntime-node, inputs from the manifest: short and long features identical to the library', async () => {
        for (const [mode, c] of [
          ['short', cases.text_short],
          ['long', cases.text_long],
        ] as const) {
          const got = await ex.texts(c.input_ids, mode);
          const want = await lib.getTextFeatures(c.input_ids, { walkShortPos: mode === 'short' });
          assert.equal(maxAbsDiff(got, flatten(want)), 0, mode);
          if (dtype === 'fp32')
            rows(got, ex.m.projectionDim).forEach((v, i) =>
              assert.ok(relL2(v, c.features[i]) <= 1e-4, `text_${mode}[${i}] vs golden: ${relL2(v, c.features[i])}`),
            );
        }
      });
    });
  }
}

describe('fgclip export: command line and errors', () => {
  test('CLI --json reports the folder, files and graphs; int8 folder is smaller than fp32', async () => {
    const a = join(scratch, 'cli-fp32');
    const b = join(scratch, 'cli-int8');
    const r1 = await run(['export', '--model', goldenPath('fgclip-small'), '--out', a, '--json']);
    assert.equal(r1.code, 0, r1.err);
    const j1 = JSON.parse(r1.out) as { dir: string; bytes: number; graphs: ExportManifest['graphs'] };
    assert.equal(j1.dir, a);
    assert.equal(j1.graphs.vision.outputs[1].name, 'dense_embeds');
    const r2 = await run(['export', '--model', goldenPath('fgclip-small'), '--out', b, '--dtype', 'int8', '--json']);
    assert.equal(r2.code, 0, r2.err);
    assert.ok((JSON.parse(r2.out) as { bytes: number }).bytes < j1.bytes);
  });

  test('a non-empty output folder is refused without --force, replaced with it', async () => {
    const d = join(scratch, 'occupied');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'keep.txt'), 'x');
    const r = await run(['export', '--model', goldenPath('fgclip-tiny'), '--out', d]);
    assert.equal(r.code, 1);
    assert.match(r.err, /INPUT_INVALID.*not empty/);
    assert.equal(readFileSync(join(d, 'keep.txt'), 'utf8'), 'x');
    const r2 = await run(['export', '--model', goldenPath('fgclip-tiny'), '--out', d, '--force', '--quiet']);
    assert.equal(r2.code, 0, r2.err);
    assert.ok(!readdirSync(d).includes('keep.txt'));
  });

  test('usage errors exit 2: missing --out, bad --dtype', async () => {
    assert.equal((await run(['export', '--model', goldenPath('fgclip-tiny')])).code, 2);
    const r = await run(['export', '--model', goldenPath('fgclip-tiny'), '--out', join(scratch, 'x'), '--dtype', 'bf16']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--dtype/);
  });

  test('a corrupt checkpoint fails with a typed error and leaves neither the folder nor a partial one', async () => {
    const src = join(scratch, 'corrupt-src');
    cpSync(goldenPath('fgclip-tiny'), src, { recursive: true });
    const st = readFileSync(join(src, 'model.safetensors'));
    writeFileSync(join(src, 'model.safetensors'), st.subarray(0, st.length - 100));
    const parent = join(scratch, 'corrupt-out-parent');
    mkdirSync(parent);
    await assert.rejects(exportModel(src, join(parent, 'out')), (e: unknown) => isFgClipError(e) && e.code === 'WEIGHTS_MALFORMED');
    assert.deepEqual(readdirSync(parent), []);
  });

  test('parseManifest rejects tampered manifests: paths escaping the folder, wrong table size, unknown version', async () => {
    const d = join(scratch, 'small-fp32');
    const good = JSON.parse(readFileSync(join(d, EXPORT_MANIFEST), 'utf8')) as Record<string, unknown> & ExportManifest;
    const bad = (m: unknown) =>
      assert.throws(
        () => parseManifest(JSON.stringify(m)),
        (e: unknown) => isFgClipError(e) && e.code === 'CONFIG_INVALID',
      );
    bad({ ...good, version: 99 });
    bad({ ...good, files: { ...good.files, '../etc/passwd': { size: 1, sha256: '0'.repeat(64) } } });
    bad({ ...good, files: { ...good.files, 'text-positions.bin': { size: 12, sha256: good.files['text-positions.bin'].sha256 } } });
    bad({ ...good, graphs: { ...good.graphs, vision: { ...good.graphs.vision, model: 'elsewhere.onnx' } } });
    assert.throws(() => parseManifest('{'), /not JSON/);
  });
});

function flatten(vs: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(vs.reduce((n, v) => n + v.length, 0));
  let o = 0;
  for (const v of vs) {
    out.set(v, o);
    o += v.length;
  }
  return out;
}
