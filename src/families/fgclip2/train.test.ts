/**
 * Training an FG-CLIP 2 checkpoint (fgclip2-tiny, the goldens' loss batch as data): the loss falls over a few steps,
 * θ is carried from step to step, the final folder loads with FgClip.load and holds every tensor (region scales and
 * the unused dense probe included); a run stopped after a checkpoint and resumed ends with the same weights as a
 * straight run (1e-6); a bad batch line fails with its line number.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isFgClipError } from '../../errors.js';
import { FgClip } from '../../model/handle.js';
import { run as runCli } from '../../test-util/cli.js';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';
import { readSafetensors } from '../../weights/index.js';
import { trainFgclip2, type Fgclip2StepRecord } from './train.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip2-train-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));
const model = goldenV2Path('fgclip2-tiny');
const batch = JSON.stringify(readGoldenV2Json<{ inputs: unknown }>('fgclip2-tiny.loss.json').inputs);
const data = join(ROOT, 'batches.jsonl');
writeFileSync(data, `${batch}\n${batch}\n`);
const common = { model, batches: data, steps: 3, lr: 1e-3, warmupSteps: 0, threads: 1 } as const;

describe('trainFgclip2', () => {
  let straight: Map<string, Float32Array>;

  it('3 steps: loss falls, θ carried, final folder loads and holds every tensor', async () => {
    const steps: Fgclip2StepRecord[] = [];
    const out = join(ROOT, 'a');
    const r = await trainFgclip2({ ...common, out, onStep: (s) => steps.push(s) });
    straight = new Map(r.params);
    assert.equal(r.steps, 3);
    assert.deepEqual(
      steps.map((s) => s.line),
      [1, 2, 1],
    );
    assert.equal(steps[0].threshold, 0.5);
    for (let i = 1; i < 3; i++) assert.equal(steps[i].threshold, steps[i - 1].nextThreshold);
    assert.ok(steps[2].loss < steps[0].loss, `loss ${steps.map((s) => s.loss)}`);
    assert.equal(readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').length, 3);
    const saved = await readSafetensors(join(r.finalDir, 'model.safetensors'));
    const source = await readSafetensors(join(model, 'model.safetensors'));
    assert.deepEqual([...saved.keys()].sort(), [...source.keys()].sort());
    assert.deepEqual(saved.get('dense_feature_head.probe')?.data, source.get('dense_feature_head.probe')?.data);
    assert.deepEqual(saved.get('boxtext_head.weight')?.data, r.params.get('boxtext_head.weight'));
    const before = await FgClip.load(model, { graphCache: false, preprocessWorkers: 0 });
    const trained = await FgClip.load(r.finalDir, { graphCache: false, preprocessWorkers: 0 });
    try {
      const [a] = (await before.encodeTexts(['a red square'])).embeddings;
      const [b] = (await trained.encodeTexts(['a red square'])).embeddings;
      assert.notDeepEqual(Array.from(a), Array.from(b));
    } finally {
      before.dispose();
      trained.dispose();
    }
  });

  it('stopped after checkpoint 1 and resumed: the same weights as the straight run (1e-6)', async () => {
    const out = join(ROOT, 'b');
    await assert.rejects(
      trainFgclip2({
        ...common,
        out,
        saveEvery: 1,
        afterStep: (s) => {
          if (s === 1) throw new Error('stop');
        },
      }),
      /stop/,
    );
    const r = await trainFgclip2({ ...common, out, saveEvery: 1 });
    assert.equal(r.resumedFrom, 1);
    for (const [k, v] of straight) {
      const w = r.params.get(k) as Float32Array;
      let worst = 0;
      for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i] - w[i]));
      assert.ok(worst <= 1e-6, `${k}: ${worst}`);
    }
  });

  it('a bad batch line is INPUT_INVALID with its line number', async () => {
    const bad = join(ROOT, 'bad.jsonl');
    writeFileSync(bad, `${batch}\n{"pixel_values": 3}\n`);
    await assert.rejects(
      trainFgclip2({ ...common, batches: bad, out: join(ROOT, 'c') }),
      (e: unknown) => isFgClipError(e) && e.code === 'INPUT_INVALID' && /bad\.jsonl:2: .*pixel_values/.test(e.message),
    );
  });
});

describe('fgclip train on an FG-CLIP 2 checkpoint', () => {
  it('--data takes JSONL batches: 2 steps, a final folder that loads, --json summary; a bad file exits non-zero with one line', async () => {
    const out = join(ROOT, 'cli');
    const r = await runCli([
      'train',
      '--model',
      model,
      '--data',
      data,
      '--out',
      out,
      '--steps',
      '2',
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
    assert.equal(s.steps, 2);
    const m = await FgClip.load(s.finalDir, { graphCache: false, preprocessWorkers: 0 });
    m.dispose();
    const bad = await runCli(['train', '--model', model, '--data', join(ROOT, 'missing.jsonl'), '--out', join(ROOT, 'cli-bad')]);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.err.trim().split('\n').length, 1, bad.err);
    // batches are already formed: --bilingual (which forms batches of one language from records) cannot apply
    const bil = await runCli(['train', '--model', model, '--data', data, '--out', join(ROOT, 'cli-bil'), '--bilingual', '--steps', '1']);
    assert.equal(bil.code, 2, bil.err);
    assert.match(bil.err, /--bilingual orders FineHARD records .*already a file of batches/);
  });
});
