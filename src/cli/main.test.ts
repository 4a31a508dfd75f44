/**
 * The CLI's parser (commander): per-command help with options, defaults and examples (`fgclip help embed` =
 * `fgclip embed --help`), "did you mean" for mistyped commands and options, and the exit codes (0 help, 2 usage).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { run } from '../test-util/cli.js';

describe('fgclip CLI parser', () => {
  test('embed --help lists every option with its help, defaults and the examples; exit 0', async () => {
    const r = await run(['embed', '--help']);
    assert.equal(r.code, 0);
    for (const s of ['usage: fgclip embed', '--model <DIR|REPO>', '--dtype <fp32|fp16|int8>', '(default: fp32)', '--texts-file <FILE>', '--jsonl', '--paths <FILE>', 'examples:', '--text -']) assert.ok(r.out.includes(s), `help lacks ${s}:\n${r.out}`);
  });

  test('"fgclip help embed" prints the same as "fgclip embed --help"', async () => {
    const a = await run(['help', 'embed']);
    const b = await run(['embed', '--help']);
    assert.equal(a.code, 0);
    assert.equal(a.out, b.out);
  });

  test('every command answers --help with an option list (exit 0)', async () => {
    const top = await run(['--help']);
    const names = [...top.out.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]);
    assert.ok(names.length >= 10, top.out);
    for (const n of names) {
      const r = await run([n, '--help']);
      assert.equal(r.code, 0, `${n}: ${r.err}`);
      assert.match(r.out, /Options:[\s\S]*-h, --help/, n);
    }
  });

  test('a mistyped command: exit 2 with "Did you mean embed?"', async () => {
    const r = await run(['embd', '--text', 'a']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command 'embd' \(Did you mean embed\?\)/);
  });

  test('a mistyped option: exit 2 with "Did you mean --model?", nothing on stdout', async () => {
    const r = await run(['embed', '--modle', 'x', '--text', 'a']);
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.match(r.err, /unknown option '--modle' \(Did you mean --model\?\)/);
  });

  test('"fgclip help nosuch" is a usage error with a suggestion list', async () => {
    const r = await run(['help', 'nosuch']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command/);
  });
});
