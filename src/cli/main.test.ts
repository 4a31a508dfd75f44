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
    for (const s of [
      'usage: fgclip embed',
      '--model <DIR|REPO>',
      '--dtype <fp32|fp16|int8>',
      '(default: fp32)',
      '--texts-file <FILE>',
      '--jsonl',
      '--paths <FILE>',
      'examples:',
      '--text -',
    ])
      assert.ok(r.out.includes(s), `help lacks ${s}:\n${r.out}`);
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

  test('every option of every command (and of each eval protocol) has a help line, every command has examples', async () => {
    const top = await run(['--help']);
    const names = [...top.out.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]);
    const pages = [...names, 'eval fgovd', 'eval retrieval', 'eval zeroshot', 'eval boxes'];
    for (const n of pages) {
      const r = await run([...n.split(' '), '--help']);
      assert.equal(r.code, 0, `${n}: ${r.err}`);
      const options = r.out.slice(r.out.indexOf('Options:'));
      // an option line is "  -x, --name <V>   description"; one without a description ends after the flags
      const bare = options.split('\n').filter((l) => /^ {2}(-\w, )?--[\w-]+( <[^>]+>)?\s*$/.test(l));
      assert.deepEqual(bare, [], `${n}: options without help`);
      if (!n.startsWith('eval ')) assert.match(r.out, /\nexamples:\n {2}fgclip /, `${n} has no examples`);
    }
  });

  test('help shows the defaults the commands apply (serve, index, train)', async () => {
    const serve = await run(['help', 'serve']);
    for (const s of ['--port <PORT>', '(default: 8080)', '--max-batch-size <N>', '(default: 32)', '--timeout-ms <MS>', '(default: 30000)'])
      assert.ok(serve.out.includes(s), `serve help lacks ${s}`);
    const index = await run(['help', 'index']);
    assert.match(index.out, /--regions <grid\|patches\|none>\s+region vectors[^\n]*\n?[^\n]*\(default: grid\)/);
    const train = await run(['help', 'train']);
    assert.match(train.out, /--lr <LR>\s+peak learning rate \(default: 1e-6\)/);
  });

  test('a usage error names the command\'s help; with --json it is also {"error": {code, message}} on stdout', async () => {
    const plain = await run(['search', 'dir', '--model', 'm', '--text', 'x', '--top', '0']);
    assert.equal(plain.code, 2);
    assert.equal(plain.out, '');
    assert.match(plain.err, /^fgclip: --top: expected an integer ≥ 1 \(got "0"\) \(fgclip search --help\)\n$/);
    const json = await run(['search', 'dir', '--model', 'm', '--text', 'x', '--top', '0', '--json']);
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.out), { error: { code: 'USAGE', message: '--top: expected an integer ≥ 1 (got "0")' } });
    assert.equal(json.err.split('\n').filter(Boolean).length, 1);
  });

  test('a library error with --json: {"error": {"code": "MODEL_NOT_FOUND", …}} on stdout, one line on stderr, exit 1', async () => {
    const r = await run(['embed', '--model', '/nonexistent/model', '--text', 'a', '--json']);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out) as { error: { code: string; message: string } };
    assert.equal(j.error.code, 'MODEL_NOT_FOUND');
    assert.match(r.err, /^fgclip: error \[MODEL_NOT_FOUND\]: [^\n]+\n$/);
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
