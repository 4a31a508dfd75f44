/**
 * A plain CLIP checkpoint for tests: the goldens' fgclip-tiny converted to Hugging Face's CLIPModel layout (its
 * weights minus the FG-CLIP-only tensors, a CLIPModel config with OpenAI's legacy special-token ids), so the clip
 * family's numbers can be checked against the goldens' short-caption and image features on the same weights.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, rawF32 } from '../weights/safetensors-write.js';
import { readSafetensors } from '../weights/safetensors.js';
import { goldenPath } from './goldens.js';

/** Tensors FG-CLIP has and CLIPModel does not. */
export const FGCLIP_ONLY_TENSORS: readonly string[] = [
  'text_model.embeddings.position_embedding_ori.weight',
  'text_model.embeddings.position_embedding_res.weight',
  'text_filip_projection.weight',
  'logit_scale_finegraind',
  'logit_scale_hardneg',
];

/** Writes fgclip-tiny as a CLIPModel checkpoint folder at `dir`; `keep` keeps some FG-CLIP-only tensors (unused-tensor tests). */
export async function writeClipModel(dir: string, keep: readonly string[] = []): Promise<void> {
  cpSync(goldenPath('fgclip-tiny'), dir, { recursive: true });
  const t = await readSafetensors(goldenPath('fgclip-tiny', 'model.safetensors'));
  writeFileSync(
    join(dir, 'model.safetensors'),
    encodeSafetensors([...t].filter(([k]) => !FGCLIP_ONLY_TENSORS.includes(k) || keep.includes(k)).map(([k, v]) => [k, rawF32(v)] as const)),
  );
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { text_config: Record<string, unknown> } & Record<string, unknown>;
  // OpenAI's published CLIP configs: CLIPModel, legacy special-token ids (pooling then uses argmax of the ids)
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ ...cfg, architectures: ['CLIPModel'], text_config: { ...cfg.text_config, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1 } }),
  );
}
