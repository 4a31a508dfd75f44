import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../config/index.js';
import { isFgClipError } from '../errors.js';
import { FgClip } from '../model/handle.js';
import { goldenPath, REPO_ROOT } from '../test-util/goldens.js';
import { quadraticEngine } from '../test-util/train-engine.js';
import { syntheticData, TEST_SPEC } from '../test-util/train-fixtures.js';
import { fgclipTensors, loadCheckpoint } from '../families/fgclip/checkpoint.js';
import { buildLongPositionTables, encodeSafetensors, rawF32, readSafetensors } from '../weights/index.js';
import { configJson, listCheckpoints, OPTIMIZER_FILE, readOptimizer, TRAINER_STATE } from './checkpoint-writer.js';
import { initParameters, smallConfig } from './init.js';
import { frozenSet, Trainer, type TrainerOptions } from './trainer.js';

const TOKENIZER = goldenPath('fgclip-tiny');
let root: string;
let data: { train: string; heldOut: string };
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'fgclip-trainer-'));
  data = await syntheticData(join(root, 'data'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const base = (out: string, extra: Partial<TrainerOptions> = {}): TrainerOptions => ({
  init: { spec: TEST_SPEC, tokenizerFrom: TOKENIZER },
  data: data.train,
  out,
  stage: 2,
  batchSize: 3,
  steps: 6,
  lr: 1e-2,
  warmupSteps: 2,
  saveEvery: 100,
  workers: 1,
  engine: async (config) => quadraticEngine(config),
  ...extra,
});

async function weights(dir: string): Promise<Map<string, Float32Array>> {
  const t = await readSafetensors(join(dir, 'model.safetensors'));
  return new Map([...t].map(([k, v]) => [k, v.data]));
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let m = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

test('N steps straight = k steps, stop (as Ctrl-C), resume, N−k steps: final weights equal within 1e-6, AdamW moments restored, log has each step once', async () => {
  const straight = await new Trainer(base(join(root, 'straight'))).run();
  assert.equal(straight.steps, 6);
  assert.ok(straight.final);

  const out = join(root, 'resumed');
  const first = new Trainer(base(out, { afterStep: (s) => s === 2 && first.requestStop() }));
  const r1 = await first.run();
  assert.deepEqual([r1.steps, r1.interrupted, r1.final], [2, true, undefined]);
  assert.deepEqual(
    listCheckpoints(out).map((c) => c.step),
    [2],
  );
  const opt = await readOptimizer(join(out, 'checkpoint-2', OPTIMIZER_FILE));
  assert.equal(opt.step, 2);
  const r2 = await new Trainer(base(out)).run();
  assert.equal(r2.resumedFrom, join(out, 'checkpoint-2'));
  assert.equal(r2.steps, 6);
  assert.ok(maxDiff(await weights(straight.final!), await weights(r2.final!)) <= 1e-6);
  const steps = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; lr: number; loss: number });
  assert.deepEqual(
    steps.map((s) => s.step),
    [1, 2, 3, 4, 5, 6],
  );
  assert.equal(steps[0].lr, 0); // warmup starts at 0, as transformers' schedule
  assert.ok(steps.every((s) => Number.isFinite(s.loss)));
});

test('checkpoints are Hugging Face folders: config.json round-trips, tensor names/shapes of the reference, tokenizer + preprocessor files; FgClip.load encodes with them', async () => {
  const out = join(root, 'layout');
  const r = await new Trainer(base(out, { steps: 2 })).run();
  for (const dir of [r.final!, r.lastCheckpoint!]) {
    for (const f of ['config.json', 'model.safetensors', 'preprocessor_config.json', 'tokenizer.json', 'vocab.json', 'merges.txt'])
      assert.ok(existsSync(join(dir, f)), `${dir}/${f}`);
    const config = await loadConfig(dir);
    assert.deepEqual(config, smallConfig(TEST_SPEC));
    const ck = await loadCheckpoint(dir, config);
    assert.deepEqual([...ck.tensors.keys()], [...fgclipTensors(config).keys()]);
    assert.deepEqual(ck.unknown, []);
  }
  assert.ok(existsSync(join(r.lastCheckpoint!, TRAINER_STATE)));
  const model = await FgClip.load(r.final!, { graphCache: false, preprocessWorkers: 0 });
  try {
    const [enc] = await model.encodeImages([join(root, 'data', 'images', 'train-00000.png')]);
    assert.equal(enc.embedding.length, TEST_SPEC.projectionDim);
    assert.ok(enc.embedding.every(Number.isFinite));
  } finally {
    model.dispose();
  }
});

test('freezing: a frozen tower keeps its exact weights; frozenSet for first-N-layers and only-projections', async () => {
  const names = [...fgclipTensors(smallConfig(TEST_SPEC)).keys()];
  const firstOne = frozenSet(names, { firstLayers: 1 });
  assert.ok(firstOne.has('vision_model.encoder.layers.0.mlp.fc1.weight') && firstOne.has('text_model.embeddings.token_embedding.weight'));
  assert.ok(!firstOne.has('vision_model.encoder.layers.1.mlp.fc1.weight') && !firstOne.has('visual_projection.weight'));
  const proj = frozenSet(names, { onlyProjections: true });
  assert.deepEqual(
    names.filter((n) => !proj.has(n)),
    ['visual_projection.weight', 'text_projection.weight', 'text_filip_projection.weight', 'logit_scale', 'logit_scale_finegraind', 'logit_scale_hardneg'],
  );

  const r = await new Trainer(base(join(root, 'frozen'), { steps: 2, freeze: { vision: true } })).run();
  const fresh = await new Trainer(base(join(root, 'fresh0'), { steps: 2, lr: 0 })).run();
  const a = await weights(r.final!);
  const b = await weights(fresh.final!);
  for (const [k, v] of a) {
    if (k.startsWith('vision_model.')) assert.deepEqual(v, b.get(k), k);
  }
  assert.notDeepEqual(a.get('text_projection.weight'), b.get('text_projection.weight'));
});

test('bad options and data are typed errors: batch of 1, no model, bad freeze, --on-bad-record fail names the record, steps and epochs, eval options without eval data, out is a file, more frozen layers than the model has, stage 1 on one record, stage-1 pairs in stage 2', async () => {
  const bad = async (o: TrainerOptions, re: RegExp) => assert.rejects(new Trainer(o).run(), (e: unknown) => isFgClipError(e) && re.test(e.message));
  await bad(base(join(root, 'e1'), { batchSize: 1 }), /batch size/);
  await bad({ ...base(join(root, 'e2')), init: undefined }, /exactly one/);
  await bad(base(join(root, 'e3'), { freeze: { firstLayers: -1 } }), /first layers must be an integer/);
  const broken = join(root, 'bad.jsonl');
  writeFileSync(broken, JSON.stringify({ f_path: 'x.png', caption: 'c', short_caption: 's', bbox_info: [{ bbox: [0.5, 0, 0.2, 1] }] }) + '\n');
  await bad(base(join(root, 'e4'), { data: broken, onBadRecord: 'fail' }), /bad\.jsonl:1: bad record: bbox_info\[0\]\.bbox is inverted/);
  await bad(base(join(root, 'e5'), { epochs: 2 }), /give steps or epochs, not both/);
  await bad(base(join(root, 'e6'), { evalEvery: 2 }), /need evalData/);
  await bad(base(join(root, 'e6'), { evalImagesDir: root }), /need evalData/);
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  await bad(base(file), /out: .*a-file exists and is not a folder/);
  await bad(base(join(root, 'e7'), { freeze: { firstLayers: 99 } }), /first 99 layers, but the model has \d+ vision and \d+ text layers/);
  const one = join(root, 'one.json');
  writeFileSync(one, JSON.stringify([JSON.parse(readFileSync(data.train, 'utf8'))[0]]));
  await bad(base(join(root, 'e8'), { data: one, stage: 1, imagesDir: join(data.train, '..') }), /1 usable record; stage 1 needs at least 2/);
  const pairs = join(root, 'pairs.csv');
  writeFileSync(pairs, 'image,caption\na.png,a red circle\nb.png,a blue square\n');
  await bad(
    base(join(root, 'e9'), { data: pairs, stage: 2 }),
    /pairs\.csv: no usable records for stage 2, which needs FineHARD records .* train with stage 1 \(--stage 1\)/,
  );
});

test('start from a plain OpenAI-layout CLIP folder: carried as from_openai does (248-row tables from the 77-row one, text_filip_projection = text_projection), stage 2 sets both region temperatures to logit_scale', async () => {
  const config = smallConfig(TEST_SPEC);
  const fresh = initParameters(config, 9);
  fresh.get('logit_scale')!.data[0] = 3.5;
  const openai = new Map([...fresh].filter(([k]) => !/position_embedding_(ori|res)|text_filip_projection|logit_scale_/.test(k)));
  const dir = join(root, 'openai');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors([...openai].map(([k, t]) => [k, rawF32(t)] as const)));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configJson(config)));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(TOKENIZER, f), join(dir, f));
  const notices: string[] = [];
  const r = await new Trainer(
    base(join(root, 'from-openai'), { init: undefined, model: dir, steps: 1, lr: 0, warmupSteps: 0, onNotice: (m) => notices.push(m) }),
  ).run();
  assert.ok(
    notices.some((m) => /OpenAI-layout CLIP carried/.test(m)),
    notices.join('\n'),
  );
  const w = await weights(r.final!);
  const built = buildLongPositionTables(openai.get('text_model.embeddings.position_embedding.weight')!);
  assert.deepEqual(w.get('text_model.embeddings.position_embedding_ori.weight'), built.ori.data);
  assert.deepEqual(w.get('text_filip_projection.weight'), openai.get('text_projection.weight')!.data);
  assert.equal(w.get('logit_scale_finegraind')![0], 3.5);
  assert.equal(w.get('logit_scale_hardneg')![0], 3.5);
});

test('periodic held-out evaluation through the eval harness: before training and every N steps, logged as JSONL with metrics in [0, 1]', async () => {
  const out = join(root, 'evals');
  const seen: number[] = [];
  const r = await new Trainer(base(out, { steps: 4, evalData: data.heldOut, evalEvery: 2, onEval: (s) => seen.push(s) })).run();
  assert.deepEqual(seen, [0, 2, 4]);
  assert.deepEqual(
    r.evals.map((e) => e.step),
    [0, 2, 4],
  );
  const evals = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number | string>)
    .filter((l) => l.type === 'eval');
  assert.equal(evals.length, 3);
  for (const e of evals) {
    for (const k of ['imageToTextR1', 'textToImageR1', 'hardNegativeAccuracy', 'boxAccuracy', 'heatmapHit'])
      assert.ok((e[k] as number) >= 0 && (e[k] as number) <= 1, `${k}=${e[k]}`);
    assert.equal(e.images, 4);
  }
});

function runChild(
  out: string,
  steps: number,
  delayMs: number,
  onLine?: (line: string) => void,
): { child: ReturnType<typeof spawn>; output: () => string; exit: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src/test-util/train-child.ts'), out, data.train, TOKENIZER, String(steps), String(delayMs)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) onLine?.(l);
  });
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => text, exit };
}

test('kill -9 at random points of a training child (checkpoint every step): the newest checkpoint always loads, resuming each time reaches the same weights as a run never killed (1e-6)', async (t) => {
  const steps = 8;
  const ref = runChild(join(root, 'child-ref'), steps, 0);
  assert.equal(await ref.exit, 0, ref.output());
  const out = join(root, 'child-killed');
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  let kills = 0;
  for (let attempt = 0; attempt < 12; attempt++) {
    // Kill at a random moment of the step after the attempt's second step line (its computation, checkpoint write or
    // pruning), timed by how long the step between the first two lines took on this machine now: a fixed delay would
    // outlast the whole run on a fast machine and never reach the checkpoint write on a slow one. Each killed attempt
    // has completed two steps (a step's checkpoint is written before its line), so the run ends within 12 attempts.
    // The first kill is drawn within 200 ms: the 6 steps after line 2 take at least 6 x 40 ms of the engine's delay,
    // so it lands before the run can end.
    const stepAt: number[] = [];
    let timer: NodeJS.Timeout | undefined;
    let killed = false;
    const run = runChild(out, steps, 40, (line) => {
      if (!/^step \d+$/.test(line) || stepAt.push(performance.now()) !== 2) return;
      const stepMs = stepAt[1] - stepAt[0];
      timer = setTimeout(
        () => {
          killed = run.child.kill('SIGKILL');
        },
        rand() * (kills === 0 ? Math.min(stepMs, 200) : stepMs),
      );
    });
    const code = await run.exit;
    clearTimeout(timer);
    if (code === 0 && /done/.test(run.output())) break;
    assert.ok(killed, `the child ended by itself without finishing (exit ${code}): ${run.output()}`);
    kills++;
    // whatever the kill interrupted, every complete checkpoint is intact
    for (const c of listCheckpoints(out)) {
      const config = await loadConfig(c.path);
      await loadCheckpoint(c.path, config);
      const st = await readOptimizer(join(c.path, OPTIMIZER_FILE));
      assert.equal(st.step, c.step);
    }
    assert.ok(!readdirSync(out).some((n) => n.startsWith('checkpoint-') && !existsSync(join(out, n, TRAINER_STATE))));
  }
  assert.ok(kills >= 1, 'the child was never killed mid-run');
  t.diagnostic(`killed ${kills} time(s)`);
  assert.ok(existsSync(join(out, 'final')), 'the killed run never finished');
  assert.ok(maxDiff(await weights(join(root, 'child-ref', 'final')), await weights(join(out, 'final'))) <= 1e-6);
});

test('SIGINT (Ctrl-C) to a training child: it finishes the current step, writes a resumable checkpoint and exits 0; the next run resumes from it', async () => {
  const out = join(root, 'child-sigint');
  const run = runChild(out, 50, 60);
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (/step 2\b/.test(run.output())) {
        clearInterval(t);
        resolve();
      }
    }, 10);
  });
  run.child.kill('SIGINT');
  assert.equal(await run.exit, 0, run.output());
  const m = /interrupted (\d+)/.exec(run.output());
  assert.ok(m, run.output());
  const n = Number(m[1]);
  assert.ok(n >= 2 && n < 50);
  assert.equal(listCheckpoints(out)[0].step, n);
  const next = runChild(out, 50, 0);
  // resumes: its first step line is n+1
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (/step \d+/.test(next.output())) {
        clearInterval(t);
        resolve();
      }
    }, 10);
  });
  next.child.kill('SIGINT');
  await next.exit;
  assert.match(next.output(), new RegExp(`^step ${n + 1}\\n`));
});
