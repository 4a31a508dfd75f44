/**
 * Hard-string corpus (style.md P9). Three kinds of checks:
 *  - every string encodes and decodes without throwing, with ids inside the vocab;
 *  - ids equal an independent reference written below in the style of openai/CLIP simple_tokenizer.py
 *    (vocab.json + merges.txt, classic "merge every occurrence of the best bigram" loop, special tokens cut with a
 *    plain split), with the normalization the Rust tokenizer applies (NFC, White_Space runs → " ", per-character
 *    lowercase). The reference first has to reproduce the Rust goldens, which checks the reference itself;
 *  - equalities and id lists that follow from the tokenizer.json alone (no BPE needed).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { goldenPath, readGoldenJson } from '../test-util/goldens.js';
import { clipTokenizerFromFile } from '../platform/node/tokenizer-file.js';

const tok = clipTokenizerFromFile(goldenPath('fgclip-tiny', 'tokenizer.json'));
const vocab = readGoldenJson<Record<string, number>>('fgclip-tiny', 'vocab.json');
const UNLIMITED = { maxLength: 1_000_000, padding: false };

// ---- independent reference -------------------------------------------------------------------------------
const mergeLines = readFileSync(goldenPath('fgclip-tiny', 'merges.txt'), 'utf8').trim().split('\n').slice(1);
const bpeRanks = new Map(mergeLines.map((line, i) => [line, i]));

/** simple_tokenizer.bytes_to_unicode: printable bytes keep their code point, the others get 256, 257, … */
const byteEncoder: string[] = (() => {
  const bs: number[] = [];
  const add = (a: string, b: string): void => {
    for (let x = a.charCodeAt(0); x <= b.charCodeAt(0); x++) bs.push(x);
  };
  add('!', '~');
  add('¡', '¬');
  add('®', 'ÿ');
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const enc: string[] = [];
  bs.forEach((b, i) => (enc[b] = String.fromCharCode(cs[i])));
  return enc;
})();

function refBpe(token: string): string[] {
  let word = [...token.slice(0, -1)].concat(token.slice(-1) + '</w>');
  for (;;) {
    let best: string | undefined;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < word.length; i++) {
      const r = bpeRanks.get(`${word[i]} ${word[i + 1]}`);
      if (r !== undefined && r < bestRank) [best, bestRank] = [`${word[i]} ${word[i + 1]}`, r];
    }
    if (best === undefined) return word;
    const [first, second] = best.split(' ');
    const merged: string[] = [];
    for (let i = 0; i < word.length; ) {
      if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
        merged.push(first + second);
        i += 2;
      } else merged.push(word[i++]);
    }
    word = merged;
  }
}

const REF_PAT = /'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+/gu;
const SPECIALS = /(<\|startoftext\|>|<\|endoftext\|>)/;

function refNormalize(text: string): string {
  const wellFormed = Array.from(text, (c) => (/^[\uD800-\uDFFF]$/.test(c) ? '\uFFFD' : c)).join('');
  return Array.from(wellFormed.normalize('NFC').replace(/\p{White_Space}+/gu, ' '), (c) => c.toLowerCase()).join('');
}

/** ids without bos/eos, and the words the split produced (special tokens excluded) */
function refEncode(text: string): { ids: number[]; words: string[] } {
  const ids: number[] = [];
  const words: string[] = [];
  for (const part of refNormalize(text).split(SPECIALS)) {
    if (part === '<|startoftext|>' || part === '<|endoftext|>') {
      ids.push(vocab[part]);
      continue;
    }
    for (const m of part.matchAll(REF_PAT)) {
      words.push(m[0]);
      const mapped = Array.from(Buffer.from(m[0], 'utf8'), (b) => byteEncoder[b]).join('');
      for (const t of refBpe(mapped)) ids.push(vocab[t]);
    }
  }
  return { ids, words };
}

const PY_WS =
  /^[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

// ---- corpus ------------------------------------------------------------------------------------------------
const CORPUS: readonly string[] = [
  '',
  ' ',
  '   \t\n  ',
  '\t\ttab\tseparated\t',
  'line1\nline2\r\nline3',
  '  leading and trailing  ',
  'double  space',
  '!!!???...',
  '...',
  '--',
  'a-b_c',
  '"quoted" (parens) [brackets] {braces}',
  '$100.50 & 20% off!',
  '@user #hashtag',
  'e-mail: someone@example.com',
  'http://example.com/path?x=1&y=2',
  "don't",
  "I'M",
  "DON'T",
  "we'll they've she'd it's you're",
  "'s",
  "o'clock",
  "rock'n'roll",
  "''quoted''",
  '2024',
  '3.14159',
  '1,000,000',
  '١٢٣ arabic digits',
  '½ ⅓ ² ³',
  'Ⅻ roman',
  '日本語のテキスト',
  '中文字符 mixed with English',
  '한국어 텍스트',
  'ภาษาไทย',
  'café',
  'cafe\u0301',
  'naïve Ångström',
  'e\u0301\u0301',
  'İstanbul',
  'ΣΑΣ ΟΔΟΣ',
  'straße',
  'ﬁ ligature',
  '😀',
  '👨‍👩‍👧‍👦 family',
  '🏳️‍🌈',
  '👍🏽',
  'a😀b',
  '\u0000\u0001\u0007',
  'bell\u0007char',
  '\u200b zero width',
  '\ufeffbom',
  'a\u0085b',
  'nbsp\u00a0here',
  'ideographic\u3000space',
  '\u001c\u001f separators',
  'a\u2028b\u2029c',
  '<|endoftext|>',
  '<|startoftext|>',
  '<|ENDOFTEXT|>',
  'a<|endoftext|>b',
  '<|endoftext|><|endoftext|>',
  '<|startoftext|> hi <|endoftext|>',
  '<|endof',
  '< |endoftext| >',
  '!<|endoftext|>!',
  'x\ud800y',
  '\udc00',
  'a'.repeat(3000),
  '!'.repeat(2000),
  'word '.repeat(300),
  'supercalifragilisticexpialidocious',
];

describe('hard-string corpus', () => {
  test('the independent reference reproduces the Rust goldens (reference self-check, exact ids)', () => {
    for (const c of readGoldenJson<{ text: string; ids: number[] }[]>('tokenizer_cases.json')) {
      assert.deepEqual([tok.bosId, ...refEncode(c.text).ids, tok.eosId], c.ids, JSON.stringify(c.text));
    }
  });

  test('every string: no throw, ids within the vocab, padded to 77 and 248', () => {
    for (const text of CORPUS) {
      for (const maxLength of [77, 248]) {
        const e = tok.encode(text, { maxLength });
        assert.equal(e.ids.length, maxLength);
        assert.ok(
          e.ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize),
          JSON.stringify(text),
        );
        assert.deepEqual([e.ids[0], e.ids[e.length - 1]], [tok.bosId, tok.eosId]);
      }
    }
  });

  test('every string: ids equal the independent reference (exact)', () => {
    for (const text of CORPUS) {
      assert.deepEqual(tok.encode(text, UNLIMITED).ids, [tok.bosId, ...refEncode(text).ids, tok.eosId], JSON.stringify(text));
    }
  });

  test('every string: decode(skipSpecialTokens) gives the normalized words joined by spaces (exact)', () => {
    for (const text of CORPUS) {
      const expected = refEncode(text).words.join(' ').replace(PY_WS, '');
      assert.equal(tok.decode(tok.encode(text, UNLIMITED).ids, { skipSpecialTokens: true }), expected, JSON.stringify(text));
    }
  });
});

describe('ids that follow from tokenizer.json alone', () => {
  const ids = (t: string): number[] => tok.encode(t, UNLIMITED).ids;
  const [B, E] = [vocab['<|startoftext|>'], vocab['<|endoftext|>']];

  test('empty and whitespace-only text → [bos, eos]', () => {
    for (const t of ['', ' ', '\t\n\r\u00a0\u3000\u2028\u0085']) assert.deepEqual(ids(t), [B, E], JSON.stringify(t));
  });

  test('each digit is its own single-character word: "2024" → 2</w> 0</w> 2</w> 4</w>', () => {
    assert.deepEqual(ids('2024'), [B, vocab['2</w>'], vocab['0</w>'], vocab['2</w>'], vocab['4</w>'], E]);
  });

  test('special-token literals are recognized after lowercasing, anywhere in the text', () => {
    assert.deepEqual(ids('<|endoftext|>'), [B, E, E]);
    assert.deepEqual(ids('<|startoftext|>'), [B, B, E]);
    assert.deepEqual(ids('<|EndOfText|>'), [B, E, E]);
    assert.deepEqual(ids('a<|endoftext|>b'), [B, vocab['a</w>'], E, vocab['b</w>'], E]);
  });

  test('normalization equalities: case, whitespace runs, NFC, onig \\s (U+0085 yes, U+FEFF no)', () => {
    assert.deepEqual(ids("I'M"), ids("i'm"));
    assert.deepEqual(ids("i'm"), [B, vocab['i</w>'], ...ids("'m").slice(1, -1), E]);
    assert.deepEqual(ids('A \t\n\n  Photo'), ids('a photo'));
    assert.deepEqual(ids('cafe\u0301'), ids('café'));
    assert.deepEqual(ids('a\u0085b'), ids('a b'));
    assert.notDeepEqual(ids('a\ufeffb'), ids('a b'));
    // Rust lowercases per character: a final capital sigma becomes σ, not the word-final ς
    assert.deepEqual(ids('ΟΔΟΣ'), ids('οδοσ'));
  });
});
