/** FG-CLIP 2 config.json / preprocessor_config.json validation: defaults, bounds, typed errors naming the field. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isFgClipError } from '../../errors.js';
import { goldenV2Path } from '../../test-util/goldens-v2.js';
import { isFgclip2Config, parseFgclip2Config, parseFgclip2Preprocess } from './config.js';

const tiny = JSON.parse(readFileSync(goldenV2Path('fgclip2-tiny', 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
const invalid = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => isFgClipError(e) && e.code === 'CONFIG_INVALID' && re.test(e.message));

describe('FG-CLIP 2 config', () => {
  it('reads the golden checkpoints and recognizes the family', () => {
    const c = parseFgclip2Config(tiny, 'config.json');
    assert.equal(c.grid, 4);
    assert.equal(c.text_config.longtext_len, 196);
    assert.equal(c.text_config.keep_len, 20);
    assert.ok(isFgclip2Config(tiny));
    assert.ok(!isFgclip2Config({ architectures: ['FGCLIPModel'] }));
  });
  it('absurd or inconsistent sizes are refused before any allocation', () => {
    invalid(() => parseFgclip2Config({ ...tiny, text_config: { ...tiny.text_config, vocab_size: 1e12 } }, 'c'), /text_config.vocab_size must be at most/);
    invalid(() => parseFgclip2Config({ ...tiny, vision_config: { ...tiny.vision_config, num_patches: 15 } }, 'c'), /square/);
    invalid(
      () => parseFgclip2Config({ ...tiny, vision_config: { ...tiny.vision_config, hidden_size: 64, num_attention_heads: 2 } }, 'c'),
      /must equal text_config.hidden_size/,
    );
    invalid(() => parseFgclip2Config({ ...tiny, text_config: { ...tiny.text_config, keep_len: 500 } }, 'c'), /keep_len/);
    invalid(() => parseFgclip2Config({ text_config: {} }, 'c'), /vision_config/);
    invalid(() => parseFgclip2Config([], 'c'), /JSON object/);
  });
  it('preprocessor_config.json: defaults, patch size agreement, bilinear only, bounded budget', () => {
    const d = parseFgclip2Preprocess(undefined, 'p', 16);
    assert.deepEqual([d.max_num_patches, d.dynamic_max_patches, d.resample], [256, true, 2]);
    invalid(() => parseFgclip2Preprocess({ patch_size: 14 }, 'p', 16), /patch_size/);
    invalid(() => parseFgclip2Preprocess({ resample: 3 }, 'p', 16), /resample/);
    invalid(() => parseFgclip2Preprocess({ max_num_patches: 1e9 }, 'p', 16), /max_num_patches/);
  });
});
