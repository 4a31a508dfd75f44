import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { goldenPath, readGoldenJson } from '../test-util/goldens.js';
import { ClipTokenizer } from './index.js';
import { nodeFolder } from '../platform/node/folder.js';
import { clipTokenizerFromFile } from '../platform/node/tokenizer-file.js';

interface TokenizerCase {
  text: string;
  ids: number[];
  ids77: number[];
  ids248: number[];
}
interface TextCases {
  texts: string[];
  input_ids: number[][];
}

const TOKENIZER_JSON = goldenPath('fgclip-tiny', 'tokenizer.json');
const tok = clipTokenizerFromFile(TOKENIZER_JSON);
const cases = readGoldenJson<TokenizerCase[]>('tokenizer_cases.json');
const rawJson = (): Record<string, unknown> => JSON.parse(readFileSync(TOKENIZER_JSON, 'utf8')) as Record<string, unknown>;
const vocab = readGoldenJson<Record<string, number>>('fgclip-tiny', 'vocab.json');
const UNLIMITED = { maxLength: 1_000_000, padding: false };

function assertTokenizerInvalid(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FgClipError, `expected FgClipError, got ${String(e)}`);
    assert.equal(e.code, 'TOKENIZER_INVALID');
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} should mention ${JSON.stringify(f)}`);
    return true;
  });
}

function assertInputInvalid(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID' && e.message.includes(fragment));
}

describe('ClipTokenizer vs Rust tokenizers goldens (exact id equality)', () => {
  test('tokenizer_cases.json: ids (unpadded), ids77 and ids248 identical for every case', () => {
    assert.ok(cases.length >= 14);
    for (const c of cases) {
      assert.deepEqual(tok.encode(c.text, UNLIMITED).ids, c.ids, `ids of ${JSON.stringify(c.text)}`);
      assert.deepEqual(tok.encode(c.text, { maxLength: 77 }).ids, c.ids77, `ids77 of ${JSON.stringify(c.text)}`);
      assert.deepEqual(tok.encode(c.text, { maxLength: 248 }).ids, c.ids248, `ids248 of ${JSON.stringify(c.text)}`);
      assert.equal(tok.countTokens(c.text), c.ids.length);
    }
  });

  for (const model of ['fgclip-tiny', 'fgclip-small']) {
    test(`${model}.cases.json: text_short (77) and text_long (248) input_ids identical`, async () => {
      const all = readGoldenJson<{ text_short: TextCases; text_long: TextCases }>(`${model}.cases.json`);
      const t = await ClipTokenizer.fromFolder(nodeFolder(goldenPath(model)));
      assert.deepEqual(
        t.encodeBatch(all.text_short.texts, { maxLength: 77 }).map((e) => e.ids),
        all.text_short.input_ids,
      );
      assert.deepEqual(
        t.encodeBatch(all.text_long.texts, { maxLength: 248 }).map((e) => e.ids),
        all.text_long.input_ids,
      );
    });
  }

  test('special ids: bos 49406, eos 49407, pad 49407 (tokenizer.json post_processor + CLIP pad token)', async () => {
    assert.deepEqual([tok.bosId, tok.eosId, tok.padId], [vocab['<|startoftext|>'], vocab['<|endoftext|>'], vocab['<|endoftext|>']]);
    const fromDir = await ClipTokenizer.fromFolder(nodeFolder(goldenPath('fgclip-tiny')));
    assert.deepEqual([fromDir.bosId, fromDir.eosId, fromDir.padId], [49406, 49407, 49407]);
    assert.equal(tok.vocabSize, 49408);
  });
});

describe('alternative sources give identical ids', () => {
  const texts = [...cases.map((c) => c.text), "I'M here", '<|ENDOFTEXT|>x', '👨‍👩‍👧 2024 café', '\u0000\u0007 ctrl'];

  test('vocab.json + merges.txt (slow files, no tokenizer.json) == tokenizer.json, ids exact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fgclip-tok-'));
    try {
      for (const f of ['vocab.json', 'merges.txt', 'special_tokens_map.json']) symlinkSync(goldenPath('fgclip-tiny', f), join(dir, f));
      const slow = await ClipTokenizer.fromFolder(nodeFolder(dir));
      assert.deepEqual([slow.bosId, slow.eosId, slow.padId], [tok.bosId, tok.eosId, tok.padId]);
      for (const t of texts) assert.deepEqual(slow.encode(t, { maxLength: 77 }), tok.encode(t, { maxLength: 77 }), JSON.stringify(t));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('merges as ["a", "b"] pairs (tokenizers >= 0.20 format) == "a b" strings, ids exact', () => {
    const json = rawJson();
    const model = json.model as { merges: unknown[] };
    model.merges = model.merges.map((m) => String(m).split(' '));
    const pairs = ClipTokenizer.fromJson(json);
    for (const t of texts) assert.deepEqual(pairs.encode(t, UNLIMITED).ids, tok.encode(t, UNLIMITED).ids);
  });
});

test('added_tokens options as tokenizer.json states them: normalized false/true, single_word (ids exact)', () => {
  const json = rawJson();
  const flags = { lstrip: false, rstrip: false };
  (json.added_tokens as unknown[]).push(
    { id: 49408, content: '[MASK]', single_word: false, normalized: false, special: true, ...flags },
    { id: 49409, content: 'Foo', single_word: true, normalized: true, special: false, ...flags },
  );
  const t = ClipTokenizer.fromJson(json);
  const plain = (s: string): number[] => tok.encode(s, UNLIMITED).ids.slice(1, -1);
  const ids = (s: string): number[] => t.encode(s, UNLIMITED).ids.slice(1, -1);
  assert.deepEqual(ids('a [MASK] b'), [...plain('a'), 49408, ...plain('b')]);
  assert.deepEqual(ids('a [mask] b'), plain('a [mask] b')); // not normalized: matched in the raw text only
  assert.deepEqual(ids('FOO bar'), [49409, ...plain('bar')]); // normalized: its lowercased form matches the lowercased text
  assert.deepEqual(ids('xfoo bar'), plain('xfoo bar')); // single_word: not inside a word
  assert.equal(t.vocabSize, 49410);
  assert.equal(t.decode([49408, 49409], { skipSpecialTokens: true }), 'Foo');
});

describe('truncation and padding', () => {
  const n = 100;
  const long = Array.from({ length: n }, () => 'cat').join(' ');
  const cat = vocab['cat</w>'];

  test('over-long text: [bos] + ids[:N-2] + [eos], truncated flag and dropped count', () => {
    for (const maxLength of [77, 248, 2, 3]) {
      const e = tok.encode(long, { maxLength });
      const kept = Math.min(n, maxLength - 2);
      assert.deepEqual(e.ids, [tok.bosId, ...Array(kept).fill(cat), tok.eosId, ...Array(maxLength - kept - 2).fill(tok.padId)]);
      assert.equal(e.length, kept + 2);
      assert.equal(e.truncated, n > maxLength - 2);
      assert.equal(e.droppedTokens, n - kept);
    }
  });

  test('exactly N-2 tokens is not truncated; N-1 drops one', () => {
    const fits = tok.encode(Array(75).fill('cat').join(' '), { maxLength: 77 });
    assert.deepEqual([fits.length, fits.truncated, fits.droppedTokens], [77, false, 0]);
    const over = tok.encode(Array(76).fill('cat').join(' '), { maxLength: 77 });
    assert.deepEqual([over.length, over.truncated, over.droppedTokens, over.ids[76]], [77, true, 1, tok.eosId]);
  });

  test('padding: false returns unpadded ids; default pads with padId to maxLength', () => {
    const e = tok.encode('white cat', { maxLength: 77, padding: false });
    assert.deepEqual(e.ids, [tok.bosId, vocab['white</w>'], cat, tok.eosId]);
    assert.equal(e.length, 4);
    const p = tok.encode('white cat', { maxLength: 10 });
    assert.deepEqual(p.ids, [...e.ids, ...Array(6).fill(tok.padId)]);
    assert.equal(p.length, 4);
  });

  test('countTokens counts bos/eos and ignores any limit', () => {
    assert.equal(tok.countTokens(long), n + 2);
    assert.equal(tok.countTokens(''), 2);
  });

  test('encodeBatch equals encode per text', () => {
    const texts = cases.map((c) => c.text);
    assert.deepEqual(
      tok.encodeBatch(texts, { maxLength: 77 }),
      texts.map((t) => tok.encode(t, { maxLength: 77 })),
    );
    assert.deepEqual(tok.encodeBatch([], { maxLength: 77 }), []);
  });
});

describe('decode (CLIPTokenizerFast.decode, clean_up_tokenization_spaces=False)', () => {
  test('"</w>" becomes a space, specials kept unless skipped, text stripped', () => {
    const ids = tok.encode('A photo of a CAT', { maxLength: 77 }).ids;
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'a photo of a cat');
    const unpadded = tok.encode('A photo of a CAT', UNLIMITED).ids;
    assert.equal(tok.decode(unpadded), '<|startoftext|>a photo of a cat <|endoftext|>');
  });

  test('multi-byte characters split across tokens decode back exactly', () => {
    const text = '日本語 😀 👨‍👩‍👧 naïve';
    assert.equal(tok.decode(tok.encode(text, UNLIMITED).ids, { skipSpecialTokens: true }), text);
  });

  test('a lone byte token decodes to U+FFFD (lossy UTF-8, like Rust from_utf8_lossy)', () => {
    // 'æ' is the byte-level character of byte 0xE6, a UTF-8 lead byte with no continuation
    assert.equal(tok.decode([vocab['a'], vocab['\u00e6</w>']]), 'a\ufffd');
  });

  test('bad ids → INPUT_INVALID naming the index', () => {
    assertInputInvalid(() => tok.decode([320, 49408]), 'ids[1]');
    assertInputInvalid(() => tok.decode([320, -1]), 'ids[1]');
    assertInputInvalid(() => tok.decode([1.5]), 'ids[0]');
    assertInputInvalid(() => tok.decode('320' as unknown as number[]), 'ids must be an array');
  });
});

describe('input validation → INPUT_INVALID', () => {
  test('non-string text', () => {
    for (const bad of [5, null, undefined, { text: 'a' }, ['a']]) {
      assertInputInvalid(() => tok.encode(bad as unknown as string, { maxLength: 77 }), 'text must be a string');
      assertInputInvalid(() => tok.countTokens(bad as unknown as string), 'text must be a string');
    }
    assertInputInvalid(() => tok.encodeBatch(['ok', 3 as unknown as string], { maxLength: 77 }), 'texts[1]');
    assertInputInvalid(() => tok.encodeBatch('a cat' as unknown as string[], { maxLength: 77 }), 'texts must be an array');
  });

  test('maxLength must be an integer >= 2; padding a boolean', () => {
    for (const maxLength of [1, 0, -5, 2.5, Number.NaN, Infinity, '77', undefined]) {
      assertInputInvalid(() => tok.encode('a cat', { maxLength } as unknown as { maxLength: number }), 'maxLength must be an integer >= 2');
    }
    assertInputInvalid(() => tok.encode('a cat', undefined as unknown as { maxLength: number }), 'options must be an object');
    assertInputInvalid(() => tok.encode('a cat', { maxLength: 77, padding: 'yes' as unknown as boolean }), 'padding must be true or false');
    assert.deepEqual(tok.encode('a cat', { maxLength: 2 }).ids, [tok.bosId, tok.eosId]);
  });
});

describe('malformed tokenizer files → TOKENIZER_INVALID naming file and field', () => {
  const mutate = (f: (j: Record<string, unknown>, m: Record<string, unknown>) => void): Record<string, unknown> => {
    const j = rawJson();
    f(j, j.model as Record<string, unknown>);
    return j;
  };

  test('missing or mistyped model.vocab', () => {
    assertTokenizerInvalid(
      () =>
        ClipTokenizer.fromJson(
          mutate((_, m) => delete m.vocab),
          'my/tokenizer.json',
        ),
      'my/tokenizer.json',
      'model.vocab',
      'is missing',
    );
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => (m.vocab = ['a']))), 'model.vocab', 'wrong type');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => ((m.vocab as Record<string, unknown>).cat = 'x'))), 'model.vocab["cat"]');
  });

  test('merges that are not strings/pairs, or use tokens outside the vocab', () => {
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => (m.merges as unknown[]).splice(3, 1, 42))), 'model.merges[3]', 'not a merge rule');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => (m.merges as unknown[]).splice(5, 1, ['a']))), 'model.merges[5]');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => (m.merges as unknown[]).splice(7, 1, 'a b c'))), 'model.merges[7]');
    assertTokenizerInvalid(
      () => ClipTokenizer.fromJson(mutate((_, m) => (m.merges as unknown[]).splice(9, 1, 'zzqq xxyy'))),
      'model.merges[9]',
      '"zzqq"',
      'not in the vocab',
    );
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => (m.merges = 'i n'))), 'model.merges', 'expected an array');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => delete m.merges)), 'model.merges', 'is missing');
  });

  test('wrong top-level types and unsupported sections', () => {
    assertTokenizerInvalid(() => ClipTokenizer.fromJson('not json', 't.json'), 't.json', 'expected an object');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((j) => (j.model = 'BPE'))), 'model', 'expected an object');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => (m.type = 'WordPiece'))), 'model.type', 'WordPiece');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((_, m) => (m.unk_token = '<nope>'))), 'model.unk_token');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((j) => delete j.post_processor)), 'post_processor', 'is missing');
    assertTokenizerInvalid(
      () => ClipTokenizer.fromJson(mutate((j) => ((j.post_processor as Record<string, unknown>).sep = ['<|endoftext|>']))),
      'post_processor.sep',
    );
    assertTokenizerInvalid(
      () => ClipTokenizer.fromJson(mutate((j) => ((j.normalizer as { normalizers: unknown[] }).normalizers[0] = { type: 'Precompiled' }))),
      'normalizer.normalizers[0].type',
      'Precompiled',
    );
    const badRegex = mutate((j) => ((j.pre_tokenizer as { pretokenizers: { pattern: unknown }[] }).pretokenizers[0].pattern = { Regex: '\\w+' }));
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(badRegex), 'pre_tokenizer.pretokenizers[0].pattern.Regex', 'unsupported regex');
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(mutate((j) => ((j.added_tokens as { id: unknown }[])[1].id = 'x'))), 'added_tokens[1].id');
  });

  test('unreadable files and folders', async () => {
    assertTokenizerInvalid(() => clipTokenizerFromFile('/nonexistent/tokenizer.json'), '/nonexistent/tokenizer.json', 'does not exist');
    const dir = mkdtempSync(join(tmpdir(), 'fgclip-tok-'));
    try {
      writeFileSync(join(dir, 'bad.json'), '{ "model": ');
      assertTokenizerInvalid(() => clipTokenizerFromFile(join(dir, 'bad.json')), 'bad.json', 'not valid JSON');
      await assert.rejects(
        ClipTokenizer.fromFolder(nodeFolder(dir)),
        (e: unknown) => e instanceof FgClipError && e.code === 'TOKENIZER_INVALID' && e.message.includes('vocab.json'),
      );
      symlinkSync(goldenPath('fgclip-tiny', 'vocab.json'), join(dir, 'vocab.json'));
      writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\ni n\nbroken\n');
      await assert.rejects(
        ClipTokenizer.fromFolder(nodeFolder(dir)),
        (e: unknown) => e instanceof FgClipError && e.code === 'TOKENIZER_INVALID' && e.message.includes('line 3'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hostile tokenizer files: bounded ids, nesting and sizes; special files refused before opening', () => {
  const withJson = (f: (j: Record<string, unknown>, m: Record<string, unknown>) => void): Record<string, unknown> => {
    const j = rawJson();
    f(j, j.model as Record<string, unknown>);
    return j;
  };

  test('one vocab id of 1e8 is refused (it would collide pair keys and corrupt every tokenization)', () => {
    assertTokenizerInvalid(
      () => ClipTokenizer.fromJson(withJson((_, m) => ((m.vocab as Record<string, number>)['zzqqxx</w>'] = 1e8))),
      'model.vocab["zzqqxx</w>"]',
      'out of range',
      'below 2097152',
    );
  });

  test('added token / post-processor / padding ids above the bound are refused', () => {
    assertTokenizerInvalid(
      () => ClipTokenizer.fromJson(withJson((j) => ((j.added_tokens as { id: number }[])[0].id = 3e9))),
      'added_tokens[0].id',
      'out of range',
    );
    assertTokenizerInvalid(
      () => ClipTokenizer.fromJson(withJson((j) => ((j.post_processor as { cls: unknown[] }).cls[1] = 2 ** 40))),
      'post_processor.cls[1]',
      'out of range',
    );
  });

  test('the largest allowed id (2^21 - 1) still tokenizes exactly like the untouched file', () => {
    const t = ClipTokenizer.fromJson(withJson((_, m) => ((m.vocab as Record<string, number>)['zzqqxx</w>'] = 2 ** 21 - 1)));
    for (const c of cases.slice(0, 20)) assert.deepEqual(t.encode(c.text, UNLIMITED).ids, c.ids);
  });

  test('normalizer Sequences nested 20000 deep: TOKENIZER_INVALID (no stack overflow)', () => {
    let n: unknown = { type: 'Lowercase' };
    for (let i = 0; i < 20000; i++) n = { type: 'Sequence', normalizers: [n] };
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(withJson((j) => (j.normalizer = n))), 'normalizer', 'more than 8 deep');
  });

  test('more added tokens than allowed: TOKENIZER_INVALID', () => {
    const many = Array.from({ length: 65537 }, (_, i) => ({ id: 50000 + i, content: `<t${i}>`, special: true }));
    assertTokenizerInvalid(() => ClipTokenizer.fromJson(withJson((j) => (j.added_tokens = many))), 'added_tokens', 'more than the 65536 allowed');
  });

  test('tokenizer.json as a directory, FIFO, dangling symlink or symlink to /dev/zero: TOKENIZER_INVALID, no hang', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fgclip-tok-special-'));
    try {
      const makers: [string, (p: string) => void][] = [
        ['directory', (p) => mkdirSync(p)],
        ['FIFO', (p) => execFileSync('mkfifo', [p])],
        ['symlink to nothing', (p) => symlinkSync(join(root, 'gone'), p)],
        ['character device', (p) => symlinkSync('/dev/zero', p)],
      ];
      for (const [kind, make] of makers) {
        const dir = mkdtempSync(join(root, 'm-'));
        make(join(dir, 'tokenizer.json'));
        await assert.rejects(
          ClipTokenizer.fromFolder(nodeFolder(dir)),
          (e: unknown) => e instanceof FgClipError && e.code === 'TOKENIZER_INVALID' && e.message.includes('tokenizer.json'),
          kind,
        );
        assertTokenizerInvalid(() => clipTokenizerFromFile(join(dir, 'tokenizer.json')), 'tokenizer.json');
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

test('10k distinct short captions encoded as one batch on a fresh tokenizer (cold word cache) equal each caption encoded alone on another fresh tokenizer (ids exact)', () => {
  const batchTok = clipTokenizerFromFile(TOKENIZER_JSON);
  const aloneTok = clipTokenizerFromFile(TOKENIZER_JSON);
  const nouns = ['cat', 'dog', 'red car', 'bird on a wire', 'bowl of ramen', 'Mountain lake'];
  const texts = Array.from({ length: 10_000 }, (_, i) => `A photo of a ${nouns[i % nouns.length]}, number ${i}, taken in ${1900 + (i % 120)}.`);
  const out = batchTok.encodeBatch(texts, { maxLength: 77 });
  assert.equal(out.length, 10_000);
  // every 97th caption, in reverse order so the second tokenizer's word cache fills differently
  for (let i = texts.length - 1; i >= 0; i -= 97) assert.deepEqual(out[i].ids, aloneTok.encode(texts[i], { maxLength: 77 }).ids, texts[i]);
});
