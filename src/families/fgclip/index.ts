/**
 * FG-CLIP v1 (360 CVGroup, `FGCLIPModel`): CLIP towers with 248-token long-caption position tables and a second
 * text projection (`text_filip_projection`) for long captions; dense and region features from the vision tower.
 * The model is specified in docs/model-spec.md.
 */
import type { ModelFamily } from '../types.js';
import { loadFgClip } from './assemble.js';

export const fgclipFamily: ModelFamily = {
  id: 'fgclip',
  description: 'FG-CLIP v1',
  architectures: ['FGCLIPModel'],
  // configs without `architectures` in the CLIPConfig layout have always loaded as FG-CLIP (a plain OpenAI-CLIP
  // checkpoint is then carried into the FG-CLIP layout, as training does)
  modelTypes: ['clip'],
  load: loadFgClip,
};
