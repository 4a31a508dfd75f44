import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FgClipError } from '../errors.js';
import { fillTemplate, IMAGENET_TEMPLATES, readTemplatesFile, resolveTemplates } from './templates.js';

/** every temp folder of this file, removed at the end */
const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-test-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

const code = (c: string) => (e: unknown) => e instanceof FgClipError && e.code === c;

describe('prompt templates', () => {
  test('imagenet: 80 distinct templates (OpenAI notebook order), each with exactly one {}', () => {
    assert.equal(IMAGENET_TEMPLATES.length, 80);
    assert.equal(new Set(IMAGENET_TEMPLATES).size, 80);
    assert.equal(IMAGENET_TEMPLATES[0], 'a bad photo of a {}.');
    assert.equal(IMAGENET_TEMPLATES[79], 'a tattoo of the {}.');
    for (const t of IMAGENET_TEMPLATES) assert.equal(t.split('{}').length, 2, t);
  });

  test("resolveTemplates: 'none' is the label itself, lists are checked", () => {
    assert.deepEqual(resolveTemplates('none'), ['{}']);
    assert.equal(resolveTemplates('imagenet'), IMAGENET_TEMPLATES);
    assert.deepEqual(resolveTemplates(['a {}', '{} b']), ['a {}', '{} b']);
    assert.throws(() => resolveTemplates([]), code('INPUT_INVALID'));
    assert.throws(() => resolveTemplates(['no slot']), /template 1 must contain exactly one \{\}/);
    assert.throws(() => resolveTemplates(['{} and {}']), /exactly one/);
    assert.throws(() => resolveTemplates('imagenet21k' as never), /expected 'none', 'imagenet'/);
  });

  test('fillTemplate inserts the label verbatim (no format escapes)', () => {
    assert.equal(fillTemplate('a photo of a {}.', 'cat'), 'a photo of a cat.');
    assert.equal(fillTemplate('{}', '{weird} $& label'), '{weird} $& label');
  });

  test('readTemplatesFile skips blanks and comments, and names the bad line', () => {
    const dir = mkdtempSync(join(ROOT, 'fgclip-tpl-'));
    const ok = join(dir, 'ok.txt');
    writeFileSync(ok, '# mine\n\na photo of a {}.\r\n  art of the {}.  \n');
    assert.deepEqual(readTemplatesFile(ok), ['a photo of a {}.', 'art of the {}.']);
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, 'a photo of a {}.\nno slot here\n');
    assert.throws(() => readTemplatesFile(bad), /line 2 must contain exactly one \{\}/);
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '# nothing\n');
    assert.throws(() => readTemplatesFile(empty), /no templates/);
    assert.throws(() => readTemplatesFile(join(dir, 'missing.txt')), /cannot read it/);
  });
});
