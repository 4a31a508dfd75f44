/**
 * Hostile-input suite, JSON files: generated mutations of config.json, preprocessor_config.json and tokenizer.json
 * (every leaf or object replaced by hostile values: huge, negative, fractional, wrong types, prototype keys) plus deep
 * nesting. Each ends in a typed error (CONFIG_INVALID / TOKENIZER_INVALID) or a valid, bounded result.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_LIMITS, parseConfig } from '../config/load.js';
import { parsePreprocessConfig } from '../config/preprocessor.js';
import { FgClipError } from '../errors.js';
import { readGoldenJson } from '../test-util/goldens.js';
import { deepJson, jsonFieldCases } from '../test-util/hostile/corpus.js';
import { assertPeakRssBelow, typedOrOk } from '../test-util/hostile/expect.js';
import { ClipTokenizer } from '../tokenizer/index.js';
import type { TowerConfig } from '../config/types.js';

type Json = Record<string, unknown>;
const config = readGoldenJson<Json>('fgclip-tiny', 'config.json');
const pre = readGoldenJson<Json>('fgclip-tiny', 'preprocessor_config.json');
const tokenizer = readGoldenJson<Json>('fgclip-tiny', 'tokenizer.json');

/** A small tokenizer.json keeping the golden's layout: the 512 byte-level tokens, the specials, the merges among them. */
function miniTokenizer(): Json {
  const t = structuredClone(tokenizer) as { model: { vocab: Record<string, number>; merges: unknown[] } };
  const vocab = Object.fromEntries(Object.entries(t.model.vocab).filter(([, id]) => id < 512 || id >= 49406));
  const merges = t.model.merges.filter((m) => {
    const [a, b] = typeof m === 'string' ? m.split(' ') : (m as [string, string]);
    return a in vocab && b in vocab && a + b in vocab;
  });
  t.model.vocab = vocab;
  t.model.merges = merges;
  return t as unknown as Json;
}

function towerBounded(t: TowerConfig): void {
  assert.ok(
    t.num_hidden_layers <= CONFIG_LIMITS.num_hidden_layers &&
      t.hidden_size <= CONFIG_LIMITS.hidden_size &&
      t.intermediate_size <= CONFIG_LIMITS.intermediate_size,
  );
  assert.ok(t.hidden_size % t.num_attention_heads === 0);
}

describe('hostile JSON files: typed error or a bounded, valid result', () => {
  test('config.json: 400 generated field mutations', async () => {
    let refused = 0;
    for (const c of jsonFieldCases(config, 11)) {
      const r = await typedOrOk(c.name, () => parseConfig(c.input, 'config.json'));
      if (r instanceof FgClipError) {
        assert.equal(r.code, 'CONFIG_INVALID', c.name);
        assert.ok(r.message.startsWith('config.json: '), r.message);
        refused++;
      } else {
        towerBounded(r.text_config);
        towerBounded(r.vision_config);
        assert.ok(r.text_config.vocab_size <= CONFIG_LIMITS.vocab_size && r.vision_config.image_size <= CONFIG_LIMITS.image_size, c.name);
      }
    }
    assert.ok(refused > 100, `${refused} refused`);
  });

  test('preprocessor_config.json: 200 generated field mutations', async () => {
    const cfg = parseConfig(config, 'config.json');
    for (const c of jsonFieldCases(pre, 12, 200)) {
      const r = await typedOrOk(c.name, () => parsePreprocessConfig(c.input, 'pre.json', cfg, () => undefined));
      if (r instanceof FgClipError) assert.equal(r.code, 'CONFIG_INVALID', c.name);
      else assert.ok(r.crop_height <= CONFIG_LIMITS.image_size && r.shortest_edge <= CONFIG_LIMITS.image_size && r.image_std.every((s) => s > 0), c.name);
    }
  });

  test('tokenizer.json: 300 generated mutations of a small tokenizer; survivors encode within maxLength and vocab', async () => {
    const base = miniTokenizer();
    const ok = ClipTokenizer.fromJson(base, 'mini.json');
    assert.equal(ok.encode('a cat', { maxLength: 77 }).ids.length, 77);
    for (const c of jsonFieldCases(base, 13, 300)) {
      const r = await typedOrOk(c.name, () => ClipTokenizer.fromJson(c.input, 'tokenizer.json'));
      if (r instanceof FgClipError) {
        assert.equal(r.code, 'TOKENIZER_INVALID', c.name);
        continue;
      }
      const e = await typedOrOk(c.name, () => r.encode('a photo of a cat, 42 times!', { maxLength: 77 }));
      if (e instanceof FgClipError) continue;
      assert.equal(e.ids.length, 77, c.name);
      assert.ok(
        e.ids.every((id) => Number.isInteger(id) && id >= 0 && id < r.vocabSize),
        c.name,
      );
    }
  });

  test('nesting 100000 deep in every section (config, tokenizer normalizer, pre_tokenizer, added_tokens) is a typed error', async () => {
    const deep = JSON.parse(deepJson(100_000)) as unknown;
    for (const [name, fn] of [
      ['config.text_config', () => parseConfig({ ...config, text_config: deep }, 'config.json')],
      [
        'config.vision_config.hidden_size',
        () => parseConfig({ ...config, vision_config: { ...(config.vision_config as Json), hidden_size: deep } }, 'config.json'),
      ],
      ['tokenizer.normalizer', () => ClipTokenizer.fromJson({ ...miniTokenizer(), normalizer: deep }, 't.json')],
      ['tokenizer.pre_tokenizer', () => ClipTokenizer.fromJson({ ...miniTokenizer(), pre_tokenizer: { type: 'Sequence', pretokenizers: deep } }, 't.json')],
      ['tokenizer.added_tokens', () => ClipTokenizer.fromJson({ ...miniTokenizer(), added_tokens: deep }, 't.json')],
    ] as const) {
      const r = await typedOrOk(name, fn as () => unknown);
      assert.ok(r instanceof FgClipError, `${name}: expected a typed error`);
    }
  });

  test('peak memory stays under 1 GB', () => {
    assertPeakRssBelow(1024);
  });
});
