/**
 * FG-CLIP 2 figures for `npm run bench` (also `node --import tsx bench/fgclip2.ts [--quick] [--threads N]`, which
 * prints JSON): a synthetic checkpoint with the shapes of fg-clip2-base (ViT-B/16 NaFlex, 12+12 layers of 768, a
 * 256,000-row token table; shapes by analogy with SigLIP 2 base, fgclip-spec §7.1), then
 *  - load time and memory (fp32 and int8), three ways, each in a fresh process: graphs built in memory
 *    (`graphCache: false`), first load through the graph cache (build + write the entry), second load (graphs opened
 *    from the entry, no weights read into JavaScript); the 256k-row token table stays on disk in all three;
 *    memory = resident set right after loading and the process's peak (VmHWM) up to then,
 *  - images/s at 256, 576 and 1024 patches (batch `imageBatch`, default 4; 1 with --quick), texts/s at 64 (short)
 *    and 196 (long) tokens (batch 8),
 *  - the int8 / fp32 speed ratio of each figure, and the process's peak RSS (VmHWM).
 * Each dtype runs in its own child process, so one's memory does not inflate the other's peak.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, timeRuns } from './stats.js';
import { benchCacheDir, numel, REPO_ROOT, writeSafetensors, type TensorSpec } from './synthetic.js';

const VERSION = 'v1';
const D = 768;
const MLP = 3072;
const LAYERS = 12;
const HEADS = 12;
const VOCAB = 256_000;
const PATCH = 16;
const GRID = 16;
const GOLDEN_V2_TINY = resolve(process.env.FGCLIP_GOLDENS_V2 ?? resolve(REPO_ROOT, '..', 'shared', 'goldens-v2'), 'fgclip2-tiny');

const n = (std: number) => ({ kind: 'normal' as const, std });
const c = (value: number) => ({ kind: 'const' as const, value });

function layers(prefix: string): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (let i = 0; i < LAYERS; i++) {
    const p = `${prefix}.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      out.push({ name: `${p}.self_attn.${proj}.weight`, shape: [D, D], init: n(0.02) }, { name: `${p}.self_attn.${proj}.bias`, shape: [D], init: c(0) });
    }
    for (const ln of ['layer_norm1', 'layer_norm2'])
      out.push({ name: `${p}.${ln}.weight`, shape: [D], init: c(1) }, { name: `${p}.${ln}.bias`, shape: [D], init: c(0) });
    out.push({ name: `${p}.mlp.fc1.weight`, shape: [MLP, D], init: n(0.02) }, { name: `${p}.mlp.fc1.bias`, shape: [MLP], init: c(0) });
    out.push({ name: `${p}.mlp.fc2.weight`, shape: [D, MLP], init: n(0.02) }, { name: `${p}.mlp.fc2.bias`, shape: [D], init: c(0) });
  }
  return out;
}

function poolingHead(p: string): TensorSpec[] {
  return [
    { name: `${p}.probe`, shape: [1, 1, D], init: n(1) },
    { name: `${p}.attention.in_proj_weight`, shape: [3 * D, D], init: n(0.02) },
    { name: `${p}.attention.in_proj_bias`, shape: [3 * D], init: c(0) },
    { name: `${p}.attention.out_proj.weight`, shape: [D, D], init: n(0.02) },
    { name: `${p}.attention.out_proj.bias`, shape: [D], init: c(0) },
    { name: `${p}.layernorm.weight`, shape: [D], init: c(1) },
    { name: `${p}.layernorm.bias`, shape: [D], init: c(0) },
    { name: `${p}.mlp.fc1.weight`, shape: [MLP, D], init: n(0.02) },
    { name: `${p}.mlp.fc1.bias`, shape: [MLP], init: c(0) },
    { name: `${p}.mlp.fc2.weight`, shape: [D, MLP], init: n(0.02) },
    { name: `${p}.mlp.fc2.bias`, shape: [D], init: c(0) },
  ];
}

export function fgclip2BaseSpecs(): TensorSpec[] {
  const specs: TensorSpec[] = [
    { name: 'text_model.embeddings.token_embedding.weight', shape: [VOCAB, D], init: n(0.02) },
    { name: 'text_model.embeddings.position_embedding.weight', shape: [64, D], init: n(0.02) },
    { name: 'text_model.embeddings.position_embedding_ori.weight', shape: [196, D], init: n(0.02) },
    { name: 'text_model.embeddings.position_embedding_res.weight', shape: [196, D], init: n(0.02) },
    ...layers('text_model'),
    { name: 'text_model.final_layer_norm.weight', shape: [D], init: c(1) },
    { name: 'text_model.final_layer_norm.bias', shape: [D], init: c(0) },
    { name: 'text_model.head.weight', shape: [D, D], init: n(0.02) },
    { name: 'text_model.head.bias', shape: [D], init: c(0) },
    { name: 'vision_model.embeddings.patch_embedding.weight', shape: [D, 3 * PATCH * PATCH], init: n(0.02) },
    { name: 'vision_model.embeddings.patch_embedding.bias', shape: [D], init: c(0) },
    { name: 'vision_model.embeddings.position_embedding.weight', shape: [GRID * GRID, D], init: n(0.02) },
    ...layers('vision_model'),
    { name: 'vision_model.post_layernorm.weight', shape: [D], init: c(1) },
    { name: 'vision_model.post_layernorm.bias', shape: [D], init: c(0) },
    ...poolingHead('vision_model.head'),
    ...poolingHead('dense_feature_head'),
    { name: 'longtext_head.weight', shape: [D, D], init: n(0.02) },
    { name: 'longtext_head.bias', shape: [D], init: c(0) },
    { name: 'boxtext_head.weight', shape: [D, D], init: n(0.02) },
    { name: 'boxtext_head.bias', shape: [D], init: c(0) },
    { name: 'logit_scale', shape: [1], init: c(Math.log(10)) },
    { name: 'logit_bias', shape: [1], init: c(-10) },
  ];
  return specs.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function configJson(): object {
  const tower = {
    hidden_size: D,
    intermediate_size: MLP,
    num_hidden_layers: LAYERS,
    num_attention_heads: HEADS,
    hidden_act: 'gelu_pytorch_tanh',
    layer_norm_eps: 1e-6,
  };
  return {
    architectures: ['Fgclip2Model'],
    model_type: 'fgclip2',
    text_config: { ...tower, vocab_size: VOCAB, max_position_embeddings: 64, keep_len: 20, longtext_len: 196, projection_size: D },
    vision_config: { ...tower, num_channels: 3, num_patches: GRID * GRID, patch_size: PATCH },
  };
}

/** The cached synthetic fg-clip2-base folder (written once, atomically renamed into place). */
export function ensureFgclip2Base(root = benchCacheDir(), log: (m: string) => void = () => undefined): { dir: string; parameters: number; fileBytes: number } {
  const dir = join(root, `fg-clip2-base-synthetic-${VERSION}`);
  const specs = fgclip2BaseSpecs();
  const parameters = specs.reduce((s, t) => s + numel(t.shape), 0);
  if (existsSync(join(dir, 'complete.json'))) return { dir, parameters, fileBytes: JSON.parse(readFileSync(join(dir, 'complete.json'), 'utf8')).bytes };
  log(`writing synthetic fg-clip2-base (${(parameters / 1e6).toFixed(1)} M parameters) to ${dir}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'config.json'), JSON.stringify(configJson(), null, 2));
  writeFileSync(
    join(tmp, 'preprocessor_config.json'),
    JSON.stringify(
      {
        image_processor_type: 'Fgclip2ImageProcessor',
        patch_size: PATCH,
        max_num_patches: 256,
        dynamic_max_patches: true,
        resample: 2,
        image_mean: [0.5, 0.5, 0.5],
        image_std: [0.5, 0.5, 0.5],
        rescale_factor: 1 / 255,
      },
      null,
      2,
    ),
  );
  // the tokenizer files of the goldens' reference checkpoint (same Gemma machinery; its ids are < 256,000)
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    copyFileSync(join(GOLDEN_V2_TINY, f), join(tmp, f));
    chmodSync(join(tmp, f), 0o644);
  }
  const bytes = writeSafetensors(join(tmp, 'model.safetensors'), specs);
  writeFileSync(join(tmp, 'complete.json'), JSON.stringify({ version: VERSION, parameters, bytes }, null, 2));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, parameters, fileBytes: bytes };
}

function rssBytes(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** One way of loading: seconds, resident set right after, and the peak up to then. */
export interface Fgclip2LoadFigures {
  way: 'in-memory' | 'cache-cold' | 'cache-warm';
  fromGraphCache: boolean;
  loadSeconds: number;
  rssAfterLoadBytes: number;
  peakRssAtLoadBytes: number;
}

export interface Fgclip2DtypeFigures {
  dtype: string;
  loads: Fgclip2LoadFigures[];
  imagesPerSec: Record<string, number>;
  textsPerSec: Record<string, number>;
  /** peak of the throughput process (warm load + runs) */
  peakRssBytes: number;
}

interface ChildRequest {
  dir: string;
  dtype: 'fp32' | 'int8';
  threads: number;
  runs: number;
  way: Fgclip2LoadFigures['way'];
  cache: string;
  /** only load (the in-memory and cold-cache figures) */
  loadOnly: boolean;
  imageBatch: number;
}

/** One load (and, unless `loadOnly`, the throughput runs) in this process (the parent runs each in a child). */
async function measureInProcess(req: ChildRequest): Promise<{ load: Fgclip2LoadFigures } & Partial<Omit<Fgclip2DtypeFigures, 'dtype' | 'loads'>>> {
  const { dir, dtype, threads, runs } = req;
  const { Fgclip2Model } = await import('../src/families/fgclip2/model.js');
  const { nodePorts } = await import('../src/platform/node/ports.js');
  const t0 = performance.now();
  const m = await Fgclip2Model.load(nodePorts(dir, { graphCache: req.way === 'in-memory' ? false : req.cache }), { threads, dtype });
  const load: Fgclip2LoadFigures = {
    way: req.way,
    fromGraphCache: m.fromGraphCache,
    loadSeconds: (performance.now() - t0) / 1000,
    rssAfterLoadBytes: rssBytes('VmRSS'),
    peakRssAtLoadBytes: rssBytes('VmHWM'),
  };
  if (req.loadOnly) {
    await m.dispose();
    return { load };
  }
  const img = { width: 1024, height: 768, data: new Uint8Array(1024 * 768 * 3).map((_, i) => (i * 2654435761) >>> 24) };
  const imagesPerSec: Record<string, number> = {};
  for (const patches of [256, 576, 1024]) {
    const batch = Array.from({ length: req.imageBatch }, () => m.preprocess(img, { maxNumPatches: patches }));
    const ms = median(await timeRuns(() => m.encodePreprocessed(batch), runs, 1));
    imagesPerSec[`${patches}`] = (req.imageBatch * 1000) / ms;
  }
  const textsPerSec: Record<string, number> = {};
  const captions = Array.from({ length: 8 }, (_, i) => `a photo of ${i} cats and ${i + 1} dogs sitting on a red sofa near the window`);
  for (const walk of ['short', 'long'] as const) {
    const ms = median(await timeRuns(() => m.encodeTexts(captions, { walk }), runs, 1));
    textsPerSec[walk === 'short' ? '64' : '196'] = (8 * 1000) / ms;
  }
  await m.dispose();
  return { load, imagesPerSec, textsPerSec, peakRssBytes: rssBytes('VmHWM') };
}

export interface Fgclip2Bench {
  parameters: number;
  fileBytes: number;
  tokenTableBytes: number;
  threads: number;
  runs: number;
  imageBatch: number;
  dtypes: Fgclip2DtypeFigures[];
  int8SpeedRatio: Record<string, number>;
}

/** Runs every dtype and load way in a child process and puts the figures side by side. */
export function benchFgclip2(opts: { threads: number; runs: number; imageBatch?: number; root?: string; log?: (m: string) => void }): Fgclip2Bench {
  const imageBatch = opts.imageBatch ?? 4;
  const ck = ensureFgclip2Base(opts.root, opts.log);
  const self = fileURLToPath(import.meta.url);
  const cache = mkdtempSync(join(tmpdir(), 'fgclip2-bench-graphs-'));
  const dtypes: Fgclip2DtypeFigures[] = [];
  try {
    for (const dtype of ['fp32', 'int8'] as const) {
      const loads: Fgclip2LoadFigures[] = [];
      let last: Awaited<ReturnType<typeof measureInProcess>> | undefined;
      for (const way of ['in-memory', 'cache-cold', 'cache-warm'] as const) {
        opts.log?.(`fg-clip2-base ${dtype} ${way}`);
        const req: ChildRequest = { dir: ck.dir, dtype, threads: opts.threads, runs: opts.runs, way, cache, loadOnly: way !== 'cache-warm', imageBatch };
        const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', JSON.stringify(req)], {
          cwd: REPO_ROOT,
          encoding: 'utf8',
          maxBuffer: 1 << 24,
        });
        if (r.status !== 0) throw new Error(`fgclip2 bench child (${dtype}, ${way}) failed: ${r.stderr}`);
        last = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Awaited<ReturnType<typeof measureInProcess>>;
        loads.push(last.load);
        opts.log?.(`fg-clip2-base ${dtype} ${way}: ${JSON.stringify(last)}`);
      }
      dtypes.push({
        dtype,
        loads,
        imagesPerSec: last?.imagesPerSec ?? {},
        textsPerSec: last?.textsPerSec ?? {},
        peakRssBytes: last?.peakRssBytes ?? Number.NaN,
      });
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
  const [f, q] = dtypes;
  const ratio: Record<string, number> = {};
  for (const k of Object.keys(f.imagesPerSec)) ratio[`images ${k} patches`] = q.imagesPerSec[k] / f.imagesPerSec[k];
  for (const k of Object.keys(f.textsPerSec)) ratio[`texts ${k} tokens`] = q.textsPerSec[k] / f.textsPerSec[k];
  return {
    parameters: ck.parameters,
    fileBytes: ck.fileBytes,
    tokenTableBytes: VOCAB * D * 4,
    threads: opts.threads,
    runs: opts.runs,
    imageBatch,
    dtypes,
    int8SpeedRatio: ratio,
  };
}

export function formatFgclip2(b: Fgclip2Bench): string {
  const mb = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
  const lines = [
    `FG-CLIP 2 base shapes (synthetic, ${(b.parameters / 1e6).toFixed(0)} M parameters, model.safetensors ${mb(b.fileBytes)}, token table ${mb(b.tokenTableBytes)} left on disk), ${b.threads} threads, median of ${b.runs}, images in batches of ${b.imageBatch}`,
    'dtype | load | from graph cache | load s | RSS after load | peak RSS at load',
  ];
  for (const d of b.dtypes)
    for (const l of d.loads)
      lines.push(`${d.dtype} | ${l.way} | ${l.fromGraphCache} | ${l.loadSeconds.toFixed(1)} | ${mb(l.rssAfterLoadBytes)} | ${mb(l.peakRssAtLoadBytes)}`);
  lines.push('dtype | img/s 256 | img/s 576 | img/s 1024 | texts/s 64 | texts/s 196 | peak RSS (warm load + runs)');
  for (const d of b.dtypes) {
    lines.push(
      `${d.dtype} | ${d.imagesPerSec['256'].toFixed(2)} | ${d.imagesPerSec['576'].toFixed(2)} | ${d.imagesPerSec['1024'].toFixed(2)} | ${d.textsPerSec['64'].toFixed(1)} | ${d.textsPerSec['196'].toFixed(1)} | ${mb(d.peakRssBytes)}`,
    );
  }
  lines.push(
    `int8 / fp32 speed: ${Object.entries(b.int8SpeedRatio)
      .map(([k, v]) => `${k} ×${v.toFixed(2)}`)
      .join(', ')}`,
  );
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    measureInProcess(JSON.parse(argv[1]) as ChildRequest).then(
      (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
      (e: unknown) => {
        process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exit(1);
      },
    );
  } else {
    const quick = argv.includes('--quick');
    const ti = argv.indexOf('--threads');
    const b = benchFgclip2({
      threads: ti >= 0 ? Number(argv[ti + 1]) : 2,
      runs: quick ? 2 : 5,
      imageBatch: quick ? 1 : 4,
      log: (m) => process.stderr.write(`bench: ${m}\n`),
    });
    process.stdout.write(`${formatFgclip2(b)}\n${JSON.stringify(b, null, 2)}\n`);
  }
}
