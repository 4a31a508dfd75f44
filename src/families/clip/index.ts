/**
 * Plain CLIP (`CLIPModel` in Hugging Face's layout: OpenAI and LAION ViT checkpoints), loaded as itself: one text
 * path of 77 tokens through `text_projection`, the vision tower with the same global, dense and region outputs as
 * FG-CLIP (dense features computed the FG-CLIP way, so the two families compare through one API).
 */
import type { ModelFamily } from '../types.js';
import { loadClip } from './assemble.js';

export const clipFamily: ModelFamily = {
  id: 'clip',
  description: 'CLIP (Hugging Face CLIPModel)',
  architectures: ['CLIPModel'],
  modelTypes: [],
  load: loadClip,
};
