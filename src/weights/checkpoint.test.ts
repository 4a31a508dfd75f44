import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isFgClipError } from '../errors.js';
import { goldenPath, readGoldenJson, relL2 } from '../test-util/goldens.js';
import { buildLongPositionTables } from './checkpoint.js';
import { readSafetensors } from './safetensors.js';

describe('resize_position_embedding (docs/model-spec.md §2.7) vs goldens', () => {
  for (const model of ['fgclip-tiny', 'fgclip-small']) {
    test(`${model}: ori/res equal the float64 golden rounded to float32 (bit-exact), rel L2 per row <= 1e-6`, async () => {
      interface Resize {
        input: string;
        position_embedding_ori: number[][];
        position_embedding_res: number[][];
      }
      const g = readGoldenJson<{ resize_position_embedding: Resize }>(`${model}.cases.json`).resize_position_embedding;
      const t = await readSafetensors(goldenPath(model, 'model.safetensors'), { only: (x) => x === g.input });
      const { ori, res } = buildLongPositionTables(t.get(g.input)!);
      const D = ori.shape[1];
      assert.deepEqual(ori.shape, [248, D]);
      assert.notEqual(ori.data, res.data);
      for (const [tab, rows] of [
        [ori, g.position_embedding_ori],
        [res, g.position_embedding_res],
      ] as const) {
        assert.equal(rows.length, 248);
        rows.forEach((row, i) => {
          const mine = tab.data.subarray(i * D, (i + 1) * D);
          assert.ok(relL2(mine, row) <= 1e-6, `row ${i}: rel L2 ${relL2(mine, row)}`);
          assert.deepEqual(mine, Float32Array.from(row), `row ${i} not bit-exact`);
        });
      }
    });
  }
  test('a table with fewer than keep+1 rows is WEIGHTS_SHAPE', () => {
    assert.throws(
      () => buildLongPositionTables({ shape: [10, 4], data: new Float32Array(40), storedDtype: 'F32' }),
      (e: unknown) => isFgClipError(e) && e.code === 'WEIGHTS_SHAPE' && /expected \[L >= 21, D\], got \[10, 4\]/.test(e.message),
    );
  });
});
