/**
 * Whole-process embedding of N JPEGs: fgclip (the built package, FgClip.load + encodeImages) against a
 * transformers.js-style peer (onnxruntime-node on an exporter-pattern graph of the same weights + sharp resize;
 * peer-graph.ts and peer-child.mjs say exactly what it is). Each run is a fresh `node` process timed from spawn to
 * exit by this process; the two alternate, after one untimed run each (page cache, graph cache warm). The children
 * also report their phases (imports, load, preprocessing, inference) so a gap can be located.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { readSafetensors } from '../src/weights/safetensors.js';
import { writePeerVisionModel } from './peer-graph.js';
import { median } from './stats.js';
import { REPO_ROOT, type SyntheticCheckpoint } from './synthetic.js';

/** bump when peer-graph.ts writes a different graph */
export const PEER_GRAPH_VERSION = 1;

export interface PeerPhases {
  readonly importsMs: number;
  readonly loadMs: number;
  /** fgclip: encodeImages (decode, resize, vision); the peer: preprocessing and inference apart */
  readonly encodeMs?: number;
  readonly preprocessMs?: number;
  readonly inferenceMs?: number;
  readonly inProcessMs: number;
}

export interface PeerResult {
  readonly model: string;
  readonly images: number;
  readonly runs: number;
  /** whole process, spawn to exit, ms: medians and all runs */
  readonly fgclipMs: number;
  readonly peerMs: number;
  readonly fgclipRuns: number[];
  readonly peerRuns: number[];
  /** fgclip / peer (medians): > 1 means fgclip is slower */
  readonly ratio: number;
  /** per-phase medians reported by the children */
  readonly fgclipPhases: PeerPhases;
  readonly peerPhases: PeerPhases;
  readonly loadAverage: [number, number];
}

/** The peer's ONNX file for a synthetic checkpoint (built once, cached beside it). */
export async function ensurePeerModel(ck: SyntheticCheckpoint, benchDir: string, log: (m: string) => void): Promise<string> {
  const dir = join(benchDir, `peer-${ck.name}-v${PEER_GRAPH_VERSION}`);
  const file = join(dir, 'vision_model.onnx');
  if (existsSync(file)) return file;
  log(`  peer: writing the exporter-pattern vision graph of fg-clip-${ck.name}`);
  const config = await loadConfig(ck.dir);
  const tensors = await readSafetensors(join(ck.dir, 'model.safetensors'), { only: (n) => n.startsWith('vision_model.') || n === 'visual_projection.weight' });
  return writePeerVisionModel(dir, config, tensors);
}

/** dist/ as `npm run build` makes it; rebuilt (tsc) when a source under src/ is newer. */
export async function ensureDist(log: (m: string) => void): Promise<string> {
  const entry = join(REPO_ROOT, 'dist', 'index.js');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs),
      0,
    );
  if (!existsSync(entry) || newest(join(REPO_ROOT, 'src')) > statSync(entry).mtimeMs) {
    log('  peer: dist/ is older than src/: building it (tsc -p tsconfig.build.json)');
    const code = await new Promise<number | null>((res) =>
      spawn(process.execPath, [resolve(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
        cwd: REPO_ROOT,
        stdio: 'inherit',
      }).on('exit', res),
    );
    if (code !== 0) throw new Error(`tsc -p tsconfig.build.json exited with ${code}`);
  }
  return entry;
}

async function timedChild(script: string, req: object): Promise<{ ms: number; out: Record<string, number | boolean> }> {
  const t = performance.now();
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bench', script), JSON.stringify(req)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((res) => child.on('exit', res));
  const ms = performance.now() - t;
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${err.slice(-2000)}`);
  return { ms, out: JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number | boolean> };
}

export async function measurePeer(o: {
  ck: SyntheticCheckpoint;
  jpegs: readonly string[];
  threads: number;
  runs: number;
  benchDir: string;
  log: (m: string) => void;
}): Promise<PeerResult> {
  const peerModel = await ensurePeerModel(o.ck, o.benchDir, o.log);
  const dist = await ensureDist(o.log);
  const images = [...o.jpegs];
  const fgReq = { dist, model: o.ck.dir, graphCache: join(o.benchDir, `graphs-peer-${o.ck.name}`), images, threads: o.threads };
  const peerReq = { model: peerModel, preprocessor: join(o.ck.dir, 'preprocessor_config.json'), images, threads: o.threads };
  const load0 = loadAverage1m();
  o.log(`  whole-process ${images.length} JPEGs: warm-up (graph cache, page cache)`);
  const warm = await timedChild('fgclip-child.mjs', fgReq);
  await timedChild('peer-child.mjs', peerReq);
  if (warm.out.embeddings !== images.length) throw new Error(`fgclip child embedded ${String(warm.out.embeddings)} images`);
  const fg: { ms: number; out: Record<string, number | boolean> }[] = [];
  const peer: { ms: number; out: Record<string, number | boolean> }[] = [];
  for (let r = 0; r < o.runs; r++) {
    fg.push(await timedChild('fgclip-child.mjs', fgReq));
    peer.push(await timedChild('peer-child.mjs', peerReq));
    o.log(`  run ${r + 1}/${o.runs}: fgclip ${fg[r].ms.toFixed(0)} ms, peer ${peer[r].ms.toFixed(0)} ms`);
  }
  if (fg.some((r) => r.out.fromGraphCache !== true)) throw new Error('fgclip child did not load from the graph cache');
  const phase = (rs: typeof fg, k: string) => (rs[0].out[k] === undefined ? undefined : median(rs.map((r) => Number(r.out[k]))));
  const phases = (rs: typeof fg): PeerPhases => ({
    importsMs: phase(rs, 'importsMs') ?? NaN,
    loadMs: phase(rs, 'loadMs') ?? NaN,
    encodeMs: phase(rs, 'encodeMs'),
    preprocessMs: phase(rs, 'preprocessMs'),
    inferenceMs: phase(rs, 'inferenceMs'),
    inProcessMs: phase(rs, 'inProcessMs') ?? NaN,
  });
  const fgclipMs = median(fg.map((r) => r.ms));
  const peerMs = median(peer.map((r) => r.ms));
  return {
    model: o.ck.name,
    images: images.length,
    runs: o.runs,
    fgclipMs,
    peerMs,
    fgclipRuns: fg.map((r) => r.ms),
    peerRuns: peer.map((r) => r.ms),
    ratio: fgclipMs / peerMs,
    fgclipPhases: phases(fg),
    peerPhases: phases(peer),
    loadAverage: [load0, loadAverage1m()],
  };
}

function loadAverage1m(): number {
  return Number(loadavg()[0].toFixed(2));
}

export function formatPeer(r: PeerResult): string {
  const f = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(0));
  const fp = r.fgclipPhases;
  const pp = r.peerPhases;
  return [
    `whole-process embedding of ${r.images} JPEGs, fg-clip-${r.model} (median of ${r.runs} fresh processes each, alternating; load average ${r.loadAverage[0]} → ${r.loadAverage[1]})`,
    '| | fgclip | transformers.js-style peer |',
    '| --- | ---: | ---: |',
    `| whole process, spawn to exit | ${f(r.fgclipMs)} ms | ${f(r.peerMs)} ms |`,
    `| imports (node start + modules) | ${f(fp.importsMs)} ms | ${f(pp.importsMs)} ms |`,
    `| load (sessions) | ${f(fp.loadMs)} ms | ${f(pp.loadMs)} ms |`,
    `| decode + resize + inference | ${f(fp.encodeMs)} ms (encodeImages) | ${f(pp.preprocessMs)} + ${f(pp.inferenceMs)} ms |`,
    `| fgclip / peer | ${r.ratio.toFixed(3)}× | |`,
  ].join('\n');
}
