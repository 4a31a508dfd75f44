/**
 * Hostile-input suite, weight files: generated safetensors headers, pickles and torch zip archives (seeded
 * mutations, see src/test-util/hostile/corpus.ts). Every case ends in a typed FgClipError or a correct answer; the
 * whole file stays under a fixed memory bound although several cases declare gigabytes.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { assertPeakRssBelow, tally, typedOrOk } from '../test-util/hostile/expect.js';
import { pickleCases, safetensorsCases, torchZipCases, validSafetensors, validTorchZip } from '../test-util/hostile/corpus.js';
import { readPytorchBin, readSafetensors, unpickleStateDict } from '../weights/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'fgclip-hostile-w-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const file = (bytes: Uint8Array, ext: string) => {
  const p = join(tmp, `c${n++}.${ext}`);
  writeFileSync(p, bytes);
  return p;
};
const WEIGHT_CODES = new Set(['WEIGHTS_MALFORMED', 'WEIGHTS_DTYPE', 'WEIGHTS_UNSAFE', 'WEIGHTS_NONFINITE', 'WEIGHTS_MISSING']);

describe('hostile weight files: typed error or correct tensors', () => {
  test('the unmutated files load to their exact values (the corpus starts from valid inputs)', async () => {
    const st = await readSafetensors(file(validSafetensors(), 'safetensors'));
    assert.deepEqual([...st.get('a')!.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...st.get('b')!.data], [1, 2, 3, 4]);
    const pt = await readPytorchBin(file(validTorchZip(), 'bin'));
    assert.deepEqual([...pt.get('w')!.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...pt.get('v')!.data], [4, 5, 6]);
  });

  test('safetensors: ~170 generated headers and byte mutations', async () => {
    const outcomes: unknown[] = [];
    for (const c of safetensorsCases()) {
      const r = await typedOrOk(c.name, () => readSafetensors(file(c.input, 'safetensors')));
      if (r instanceof FgClipError) assert.ok(WEIGHT_CODES.has(r.code), `${c.name}: ${r.code}`);
      else
        for (const [name, t] of r)
          assert.equal(
            t.data.length,
            t.shape.reduce((a, d) => a * d, 1),
            `${c.name}: ${name}`,
          );
      outcomes.push(r);
    }
    const t = tally(outcomes);
    assert.ok((t.WEIGHTS_MALFORMED ?? 0) > 50, JSON.stringify(t));
  });

  test('pickles (in memory): ~170 random programs, resource attacks and mutations', async () => {
    const outcomes: unknown[] = [];
    for (const c of pickleCases()) {
      const r = await typedOrOk(c.name, () => unpickleStateDict(c.input, c.name, () => true));
      if (r instanceof FgClipError) assert.ok(WEIGHT_CODES.has(r.code), `${c.name}: ${r.code}`);
      outcomes.push(r);
    }
    assert.ok((tally(outcomes).WEIGHTS_UNSAFE ?? 0) > 10);
  });

  test('pytorch_model.bin archives: ~300 container attacks, pickle attacks and byte mutations', async () => {
    for (const c of torchZipCases()) {
      const r = await typedOrOk(c.name, () => readPytorchBin(file(c.input, 'bin')));
      if (r instanceof FgClipError) assert.ok(WEIGHT_CODES.has(r.code), `${c.name}: ${r.code}`);
      else for (const [name, t] of r) assert.ok(t.data.length <= 6, `${c.name}: ${name} has ${t.data.length} elements from a 6-element storage`);
    }
  });

  test('peak memory of all of the above stays under 1 GB (several cases declare 4 GB or 1e30 elements)', () => {
    assertPeakRssBelow(1024);
  });
});
