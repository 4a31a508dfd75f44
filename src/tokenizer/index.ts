/** CLIP tokenizer (fgclip-spec.md §3): public surface of src/tokenizer. */
export { ClipTokenizer, type EncodeOptions, type Encoding } from './clip-tokenizer.js';
export type { TokenizerSpec, SpecialToken } from './tokenizer-spec.js';
export { CLIP_SPECIAL_TOKENS, type SpecialTokenNames } from './slow-files.js';
