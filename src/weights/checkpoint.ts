/**
 * A checkpoint folder's tensors as stored: finds the weight file(s) in `from_pretrained`'s order and drops ignorable
 * buffers (`readCheckpoint`); carries a plain OpenAI-CLIP checkpoint into the FG-CLIP layout the way training does
 * (`carryOpenAiCheckpoint`, `buildLongPositionTables`). Which tensors a model reads, and the validation that follows
 * from it, belong to the family (FG-CLIP v1: src/families/fgclip/checkpoint.ts).
 * References: fgclip.py:62-74 (FGCLIPModel parameters), :84-126 (`resize_postion_embeding`, `copy_weight`).
 */
import { join } from 'node:path';
import { CLIP_DEFAULTS } from '../config/load.js';
import { FgClipError } from '../errors.js';
import { pathExists } from '../platform/node/regular-file.js';
import { readPytorchBin } from './pytorch-bin.js';
import { readShardedSafetensors } from './safetensors-index.js';
import { readSafetensors } from './safetensors.js';
import type { Tensor, TensorMap } from './types.js';

/** Weight files in the order `from_pretrained` prefers them. */
export const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'] as const;

/** Tensors only FG-CLIP has; a checkpoint lacking all of them is a plain CLIP checkpoint (see `carryOpenAiCheckpoint`). */
export const FGCLIP_ONLY = [
  'text_model.embeddings.position_embedding_ori.weight',
  'text_model.embeddings.position_embedding_res.weight',
  'text_filip_projection.weight',
] as const;

/**
 * `*.position_ids` are `arange(n)` buffers registered `persistent=False` in current transformers
 * (modeling_clip.py:192, 268-270), but checkpoints written by older transformers contain them (as int64). The model
 * recomputes them, so they are skipped before reading (their int64 dtype would otherwise be refused).
 */
export function isIgnorableBuffer(name: string): boolean {
  return name.endsWith('.position_ids');
}

/** A dangling symlink or a special file counts as present, so that its reader refuses it with a typed error. */
const exists = pathExists;

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** The tensors of a checkpoint folder as stored (ignorable buffers skipped), and the file(s) they came from. */
export interface RawCheckpoint {
  readonly tensors: TensorMap;
  readonly files: string[];
  /** the file to name in errors (the index for a sharded checkpoint) */
  readonly where: string;
}

/** Finds the weight file(s) of `dir` in `from_pretrained`'s order and reads every tensor (no validation). */
export async function readCheckpoint(dir: string): Promise<RawCheckpoint> {
  const only = (name: string) => !isIgnorableBuffer(name);
  let tensors: TensorMap;
  let files: string[];
  const [st, index, bin] = WEIGHT_FILES.map((f) => join(dir, f));
  if (await exists(st)) {
    tensors = await readSafetensors(st, { only });
    files = [st];
  } else if (await exists(index)) {
    ({ tensors, files } = await readShardedSafetensors(index, { only }));
  } else if (await exists(bin)) {
    tensors = await readPytorchBin(bin, { only });
    files = [bin];
  } else {
    throw new FgClipError(
      'WEIGHTS_MISSING',
      `${dir}: no weight file found (looked for ${WEIGHT_FILES.join(', ')}). Point at a folder holding an FG-CLIP checkpoint.`,
    );
  }
  return { tensors, files, where: files.length === 1 ? files[0] : index };
}

/**
 * `resize_postion_embeding` (fgclip.py:84-120): the 77-row `position_embedding` → the 248-row table training starts
 * from (rows 0..19 copied, 4× linear interpolation between rows 20..76, linear extrapolation for the last four).
 * Each row is evaluated term by term as the reference writes it (`c*pre[a]/4 + …`) in float64, then rounded once to
 * float32; the goldens are the float64 result. `ori` and `res` are separate copies (the reference clones).
 */
export function buildLongPositionTables(pre: Tensor, keep = 20): { ori: Tensor; res: Tensor } {
  if (pre.shape.length !== 2 || pre.shape[0] < Math.max(keep + 1, 2)) {
    throw new FgClipError(
      'WEIGHTS_SHAPE',
      `text_model.embeddings.position_embedding.weight: cannot build the long tables (expected [L >= ${keep + 1}, D], got ${fmt(pre.shape)})`,
    );
  }
  const [L, D] = pre.shape;
  const n = 4 * L - 3 * keep;
  const out = new Float32Array(n * D);
  const p = pre.data;
  for (let j = 0; j < keep * D; j++) out[j] = p[j];
  for (let i = 0; i < L - 1 - keep; i++) {
    const a = (i + keep) * D;
    const b = (i + 1 + keep) * D;
    const r = (4 * i + keep) * D;
    for (let d = 0; d < D; d++) {
      const x = p[a + d];
      const y = p[b + d];
      out[r + d] = x;
      out[r + D + d] = (3 * x) / 4 + (1 * y) / 4;
      out[r + 2 * D + d] = (2 * x) / 4 + (2 * y) / 4;
      out[r + 3 * D + d] = (1 * x) / 4 + (3 * y) / 4;
    }
  }
  const last = (L - 1) * D;
  const prev = (L - 2) * D;
  for (let k = 0; k < 4; k++) {
    const r = (n - 4 + k) * D;
    for (let d = 0; d < D; d++) out[r + d] = p[last + d] + (k * (p[last + d] - p[prev + d])) / 4;
  }
  const shape = [n, D];
  return { ori: { shape, data: out, storedDtype: pre.storedDtype }, res: { shape, data: out.slice(), storedDtype: pre.storedDtype } };
}

/**
 * What training does when it starts from OpenAI CLIP (train_fgclip.py:390-394 → `resize_postion_embeding`,
 * `copy_weight`): adds each absent FG-CLIP tensor — `position_embedding_ori/res` from the 77-row table,
 * `text_filip_projection` = copy of `text_projection`, and the two extra temperatures at their init value
 * (FGCLIPModel.__init__, fgclip.py:71-73; training-only). Returns a new map and the names it added.
 */
export function carryOpenAiCheckpoint(
  tensors: TensorMap,
  logitScaleInit: number = CLIP_DEFAULTS.logit_scale_init_value,
): { tensors: TensorMap; carried: string[] } {
  const out: TensorMap = new Map(tensors);
  const carried: string[] = [];
  const add = (name: string, t: Tensor) => {
    out.set(name, t);
    carried.push(name);
  };
  const ori = 'text_model.embeddings.position_embedding_ori.weight';
  const res = 'text_model.embeddings.position_embedding_res.weight';
  const pre = tensors.get('text_model.embeddings.position_embedding.weight');
  if (pre && (!out.has(ori) || !out.has(res))) {
    const built = buildLongPositionTables(pre);
    if (!out.has(ori)) add(ori, built.ori);
    if (!out.has(res)) add(res, built.res);
  }
  const proj = tensors.get('text_projection.weight');
  if (proj && !out.has('text_filip_projection.weight')) add('text_filip_projection.weight', { ...proj, data: proj.data.slice() });
  for (const name of ['logit_scale_finegraind', 'logit_scale_hardneg']) {
    if (!out.has(name)) add(name, { shape: [], data: Float32Array.of(logitScaleInit), storedDtype: 'F32' });
  }
  return { tensors: out, carried };
}
