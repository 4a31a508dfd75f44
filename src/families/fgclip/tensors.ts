/**
 * The FG-CLIP v1 tensors read outside the graph builders: the text position tables (fed to the text graph as an
 * input, so one graph serves the 77- and 248-token paths) and the temperatures. With the builders' reads they make the
 * family's one list of tensor names; the library's assembly (assemble.ts) and the export (src/export/build.ts, also
 * the browser's graph build) both read them here.
 */
import type { FgClipConfig } from '../../config/types.js';
import type { WeightSource } from '../../graph/blocks.js';
import { buildLongPositions } from './text-inputs.js';

export interface FgClipOutsideGraphs {
  /** the 77-row table as stored; the 248-row table built from `position_embedding_ori` / `_res` (docs/model-spec.md) */
  readonly tables: { readonly short: Float32Array; readonly long: Float32Array };
  /** the stored log-scale `logit_scale` */
  readonly logitScaleLog: number;
}

export function readOutsideGraphs(config: FgClipConfig, w: WeightSource): FgClipOutsideGraphs {
  const tc = config.text_config;
  const D = tc.hidden_size;
  const emb = 'text_model.embeddings';
  const tables = {
    short: w.get(`${emb}.position_embedding.weight`, [tc.max_position_embeddings, D]),
    long: buildLongPositions(
      w.get(`${emb}.position_embedding_ori.weight`, [config.long_max_length, D]),
      w.get(`${emb}.position_embedding_res.weight`, [config.long_max_length, D]),
      D,
      config.long_keep_length,
    ),
  };
  const logitScaleLog = w.get('logit_scale', [])[0];
  // the training temperatures (fgclip.py:71-73): checked here, used by the loss (src/train)
  w.get('logit_scale_finegraind', []);
  w.get('logit_scale_hardneg', []);
  return { tables, logitScaleLog };
}
