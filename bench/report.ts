/** The stdout table: one block per model, one column per dtype. */
import type { MatmulResult } from './matmul.js';
import type { MachineInfo } from './machine.js';
import type { DtypeResult } from './measure.js';

export interface ModelReport {
  readonly name: string;
  readonly parameters: number;
  readonly weightBytes: number;
  readonly gflopGlobal: number;
  readonly gflopFull: number;
  readonly checkpointSeconds: number;
  readonly dtypes: DtypeResult[];
  /** GFLOP/s achieved at batch 8 fp32 (full pass FLOPs) and as a fraction of the matmul rate */
  readonly achievedGflops?: number;
  readonly fractionOfMatmul?: number;
  readonly fractionOfSquareMatmul?: number;
  /** the same from the fastest run of each (less sensitive to other load on the machine) */
  readonly achievedBestGflops?: number;
  readonly bestFractionOfMatmul?: number;
}

const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
const mb = (x: number | undefined) => (x === undefined ? '—' : `${(x / 2 ** 20).toFixed(0)} MiB`);
const s = (ms: number | null | undefined) => (ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);

function workersAt(m: ModelReport, i: number): string {
  return String(m.dtypes.find((d) => d.e2e)?.e2e?.pooled[i]?.workers ?? '?');
}

function rows(m: ModelReport): [string, (d: DtypeResult) => string][] {
  return [
    ['images/s, batch 1 (runVision)', (d) => f(d.images?.b1PerSec, 2)],
    ['images/s, batch 8 (runVision)', (d) => f(d.images?.b8PerSec, 2)],
    ['ms/image, batch 8', (d) => f(d.images && d.images.b8.medianMs / 8, 0)],
    ['texts/s, short prompts (encodeTexts)', (d) => f(d.texts?.shortPerSec)],
    ['texts/s, ~150-token captions (encodeTexts)', (d) => f(d.texts?.longPerSec)],
    ['texts/s, short, cut (runText)', (d) => f(d.texts?.shortCutModelPerSec)],
    ['texts/s, short, padded to 77 (runText)', (d) => f(d.texts?.shortPadded77ModelPerSec)],
    ['cut speed-up vs 77 padding', (d) => (d.texts ? `${f(d.texts.cutSpeedup, 2)}×` : '—')],
    ['ms/image global + dense (runVision)', (d) => f(d.features?.runVisionMsPerImage, 0)],
    ['ms/image + dense + 4 regions (encodeImages)', (d) => f(d.features?.encodeWithRegionsMsPerImage, 0)],
    ['ms/image global only (bench-built graph)', (d) => f(d.features?.ownGlobalOnlyMsPerImage, 0)],
    ['ms/image global + dense (bench-built graph)', (d) => f(d.features?.ownFullMsPerImage, 0)],
    ['dense branch cost (full / global only)', (d) => (d.features?.denseOverhead ? `${f(d.features.denseOverhead, 3)}×` : '—')],
    ['regions cost (encodeImages / runVision)', (d) => (d.features ? `${f(d.features.regionsOverhead, 3)}×` : '—')],
    ['load, cold (builds graphs)', (d) => s(d.load?.coldMs)],
    ['load, again in same process', (d) => s(d.load?.reloadSameProcessMs)],
    ['load, new process, graph cache warm', (d) => s(d.load?.warmNewProcessMs)],
    ['peak RSS, cold load + inference', (d) => mb(d.memory?.peakRssCold)],
    ['peak RSS, warm load + inference', (d) => mb(d.memory?.peakRssWarm)],
    [
      `peak RSS / fp32 weights (${mb(m.weightBytes)})`,
      (d) => (d.memory ? `${f(d.memory.peakRssColdPerWeightByte, 2)} / ${f(d.memory.peakRssWarmPerWeightByte, 2)}` : '—'),
    ],
    ['e2e JPEG→embedding img/s, encodeImages', (d) => f(d.e2e?.encodeImagesPerSec, 2)],
    ...[0, 1].map((i): [string, (d: DtypeResult) => string] => [
      `e2e JPEG→embedding img/s, pool(${workersAt(m, i)}) + runVision`,
      (d) => f(d.e2e?.pooled[i]?.endToEndPerSec, 2),
    ]),
    ['preprocess only img/s, in-thread', (d) => f(d.e2e?.preprocessInThreadPerSec)],
    ...[0, 1].map((i): [string, (d: DtypeResult) => string] => [
      `preprocess only img/s, pool(${workersAt(m, i)})`,
      (d) => f(d.e2e?.pooled[i]?.preprocessPerSec),
    ]),
    ['cosine to fp32, worst: image embedding', (d) => f(d.cosineToFp32?.image.min, 6)],
    ['cosine to fp32, worst: dense patch', (d) => f(d.cosineToFp32?.dense.min, 6)],
    ['cosine to fp32, worst: short caption', (d) => f(d.cosineToFp32?.textShort.min, 6)],
    ['cosine to fp32, worst: long caption', (d) => f(d.cosineToFp32?.textLong.min, 6)],
  ];
}

export function formatReport(machine: MachineInfo, matmul: readonly MatmulResult[], models: readonly ModelReport[]): string {
  const out: string[] = [];
  out.push(
    `machine: ${machine.nproc} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}, onnxruntime-node ${machine.onnxruntimeNode}, sharp ${machine.sharp}, load avg ${machine.loadAverage1m.toFixed(2)}`,
  );
  for (const m of matmul)
    out.push(`fp32 MatMul ${m.m}×${m.k}×${m.n}, ${m.threads} threads: ${m.gflops.toFixed(0)} GFLOP/s median (${m.bestGflops.toFixed(0)} best, ${m.runs} runs)`);
  for (const m of models) {
    out.push('');
    out.push(
      `fg-clip-${m.name} (synthetic weights, ${(m.parameters / 1e6).toFixed(1)} M parameters; vision ${m.gflopGlobal.toFixed(1)} GFLOP/image global, ${m.gflopFull.toFixed(1)} with dense)`,
    );
    const avail = m.dtypes.filter((d) => d.available);
    const w0 = 46;
    const w = 16;
    out.push(`  ${''.padEnd(w0)}${avail.map((d) => d.dtype.padStart(w)).join('')}`);
    for (const [label, get] of rows(m)) {
      const cells = avail.map((d) => get(d));
      if (cells.every((c) => c === '—')) continue;
      out.push(`  ${label.padEnd(w0)}${cells.map((c) => c.padStart(w)).join('')}`);
    }
    if (m.achievedGflops !== undefined) {
      const pct = (x: number | undefined) => `${((x ?? NaN) * 100).toFixed(0)}%`;
      out.push(
        `  achieved (fp32, batch 8, ${m.gflopFull.toFixed(1)} GFLOP/image): ${m.achievedGflops.toFixed(0)} GFLOP/s = ${pct(m.fractionOfMatmul)} of the 1576×768×3072 MatMul rate, ${pct(m.fractionOfSquareMatmul)} of 2048³ (medians); best runs: ${(m.achievedBestGflops ?? NaN).toFixed(0)} GFLOP/s = ${pct(m.bestFractionOfMatmul)} of the best MatMul run`,
      );
    }
    for (const d of m.dtypes) if (d.note) out.push(`  note (${d.dtype}): ${d.note}`);
    for (const d of m.dtypes) if (d.features?.globalOnlyNote) out.push(`  note (${d.dtype}): ${d.features.globalOnlyNote}`);
  }
  return out.join('\n');
}
