/**
 * FG-CLIP v1's one list of tensor names, and checkpoint validation that follows from it. The list is not written
 * down anywhere: it is what the family's graph builders (text-graph.ts, vision-graph.ts) and `readOutsideGraphs`
 * (tensors.ts) read through the weight reader, recorded by running them once per config on zeros into a sink that
 * keeps nothing. Training (src/train: its parameters and the checkpoints it writes), the export, the browser's weight
 * reader and `loadCheckpoint` all take it from here, so a tensor the builders start or stop reading changes every
 * one of them at once.
 */
import type { FgClipConfig } from '../../config/types.js';
import type { WeightSource } from '../../graph/blocks.js';
import type { WeightSink } from '../../graph/onnx-builder.js';
import { carryOpenAiCheckpoint, FGCLIP_ONLY, readCheckpoint } from '../../weights/checkpoint.js';
import { WeightReader } from '../../weights/reader.js';
import type { TensorMap } from '../../weights/types.js';
import { buildTextGraph } from './text-graph.js';
import { readOutsideGraphs } from './tensors.js';
import { buildVisionGraph } from './vision-graph.js';

/** A weight source that records what is asked (name → shape, in reading order) and hands out zeros. */
class ShapeRecorder implements WeightSource {
  readonly shapes = new Map<string, number[]>();
  private readonly zeros = new Map<number, Float32Array>();
  get(name: string, shape: readonly number[]): Float32Array {
    this.shapes.set(name, [...shape]);
    const n = shape.reduce((a, b) => a * b, 1);
    let z = this.zeros.get(n);
    if (!z) this.zeros.set(n, (z = new Float32Array(n)));
    return z;
  }
}

/** A weight sink that keeps nothing (the recording build needs only the reads). */
const DISCARD: WeightSink = { write: () => 0, finish: () => undefined };

const memo = new WeakMap<FgClipConfig, ReadonlyMap<string, readonly number[]>>();

/**
 * Every tensor FG-CLIP v1 reads for `config`, with the shape the readers ask (PyTorch layouts: Linear [out, in],
 * Conv2d OIHW): the vision graph's, the text graph's, then the position tables and temperatures read outside them.
 */
export function fgclipTensors(config: FgClipConfig): ReadonlyMap<string, readonly number[]> {
  const known = memo.get(config);
  if (known) return known;
  const rec = new ShapeRecorder();
  buildVisionGraph(config, rec, { sink: DISCARD, dense: true });
  buildTextGraph(config, rec, { sink: DISCARD });
  readOutsideGraphs(config, rec);
  memo.set(config, rec.shapes);
  return rec.shapes;
}

export interface LoadedCheckpoint {
  /** exactly the tensors of `fgclipTensors(config)`, in its order, shapes checked */
  readonly tensors: TensorMap;
  /** tensors in the file that the model does not read (not loaded); callers should warn about them */
  readonly unknown: string[];
  /** weight files read */
  readonly files: string[];
  /** tensors synthesised by `carryOpenAiCheckpoint` (empty for an FG-CLIP checkpoint) */
  readonly carried: string[];
}

/**
 * An FG-CLIP v1 checkpoint folder → its tensors, validated: a plain OpenAI-CLIP file is carried into the FG-CLIP
 * layout as training does, then every tensor of `fgclipTensors(config)` is read through the weight reader, which
 * reports every missing and mis-shaped tensor in one error (WEIGHTS_MISSING, or WEIGHTS_SHAPE when nothing is
 * missing) and what nothing reads (`unknown`).
 */
export async function loadCheckpoint(dir: string, config: FgClipConfig): Promise<LoadedCheckpoint> {
  const { tensors: stored, files, where } = await readCheckpoint(dir);
  let raw = stored;
  let carried: string[] = [];
  if (FGCLIP_ONLY.every((n) => !raw.has(n))) ({ tensors: raw, carried } = carryOpenAiCheckpoint(raw, config.logit_scale_init_value));
  const w = new WeightReader(raw, where);
  for (const [name, shape] of fgclipTensors(config)) w.get(name, shape);
  w.check('Check that config.json and the weights come from the same FG-CLIP checkpoint.');
  const tensors: TensorMap = new Map();
  for (const name of w.consumed.keys()) {
    const t = raw.get(name);
    if (t) tensors.set(name, t);
  }
  return { tensors, unknown: w.unused(), files, carried };
}
