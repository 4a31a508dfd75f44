/**
 * `fgclip embed` for batch jobs, run in-process through main(): folders and globs as image input, --jsonl lines with
 * paths, texts from stdin (`--text -`) and from files (`--texts-file`), `.npy` + `--paths`, progress only on a TTY.
 * Values compared with the golden features (relative L2 ≤ 1e-4 for PNGs, texts) — batching in chunks must not
 * change a vector.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { goldenPath, readGoldenJson, relL2 } from '../../test-util/goldens.js';
import { run } from '../../test-util/cli.js';

interface Cases {
  text_short: { texts: string[]; features: number[][] };
  end_to_end: { cases: { image: string; image_features: number[] }[] };
}

describe('fgclip embed (batch inputs)', () => {
  const C = readGoldenJson<Cases>('fgclip-tiny.cases.json');
  const model = goldenPath('fgclip-tiny');
  const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-embed-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const pngs = C.end_to_end.cases.filter((c) => c.image.endsWith('.png'));
  // a folder with the PNGs in a nested layout, a hidden file and a non-image
  const dir = join(tmp, 'photos');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  pngs.forEach((c, i) => copyFileSync(goldenPath(c.image), join(dir, i % 2 ? 'sub' : '', `img${i}.png`)));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  copyFileSync(goldenPath(pngs[0].image), join(dir, '.hidden.png'));
  const expectedFor = (path: string) => pngs[Number(/img(\d+)\.png$/.exec(path)![1])].image_features;

  test('a folder: every image in it recursively (sorted, hidden and non-images left out), --jsonl {index, image, embedding} = golden (rel L2 ≤ 1e-4)', async () => {
    const r = await run(['embed', '--model', model, dir, '--raw', '--jsonl', '--quiet']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { index: number; image: string; embedding: number[] });
    assert.equal(lines.length, pngs.length);
    assert.deepEqual(
      lines.map((l) => l.index),
      pngs.map((_, i) => i),
    );
    assert.deepEqual(
      lines.map((l) => l.image),
      [...lines.map((l) => l.image)].sort(),
    );
    for (const l of lines) assert.ok(relL2(l.embedding, expectedFor(l.image)) <= 1e-4, l.image);
  });

  test('a glob ("photos/**/img*.png") picks the same files; no match is a typed INPUT_INVALID error (exit 1)', async () => {
    const r = await run(['embed', '--model', model, '--image', `${dir}/**/img*.png`, '--raw', '--json', '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.equal((JSON.parse(r.out) as { embeddings: number[][] }).embeddings.length, pngs.length);
    const none = await run(['embed', '--model', model, `${dir}/*.gif`, '--json', '--quiet']);
    assert.equal(none.code, 1);
    assert.match(none.err, /\[INPUT_INVALID\].*no files match/);
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    const e = await run(['embed', '--model', model, empty, '--json', '--quiet']);
    assert.equal(e.code, 1);
    assert.match(e.err, /\[INPUT_INVALID\].*holds no images/);
  });

  test('--npy + --paths: one row per image, the paths file names each row in order; an unwritable --npy is INPUT_INVALID', async () => {
    const npy = join(tmp, 'v.npy');
    const paths = join(tmp, 'paths.txt');
    const r = await run(['embed', '--model', model, dir, '--raw', '--npy', npy, '--paths', paths, '--quiet']);
    assert.equal(r.code, 0, r.err);
    const names = readFileSync(paths, 'utf8').trim().split('\n');
    assert.equal(names.length, pngs.length);
    const buf = readFileSync(npy);
    const headerLen = buf.readUInt16LE(8);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + headerLen, buf.byteOffset + buf.length));
    const dim = data.length / names.length;
    names.forEach((p, i) => assert.ok(relL2(data.subarray(i * dim, (i + 1) * dim), expectedFor(p)) <= 1e-4, p));
    const bad = await run(['embed', '--model', model, dir, '--paths', paths]);
    assert.equal(bad.code, 2);
    // an output file that cannot be written is a typed error, after the work, with one line and the JSON error
    const nowhere = join(tmp, 'no-such-folder', 'v.npy');
    const w = await run(['embed', '--model', model, '--text', 'a cat', '--npy', nowhere, '--json', '--quiet']);
    assert.equal(w.code, 1);
    assert.match(w.err, /^fgclip: error \[INPUT_INVALID\]: --npy .*no-such-folder.*: cannot write it \(ENOENT/);
    assert.equal(w.err.trim().split('\n').length, 1);
    assert.equal((JSON.parse(w.out) as { error: { code: string } }).error.code, 'INPUT_INVALID');
    const d = await run(['dense', '--model', model, '--image', goldenPath(pngs[0].image), '--npy', nowhere, '--quiet']);
    assert.equal(d.code, 1);
    assert.match(d.err, /\[INPUT_INVALID\]: --npy /);
  });

  test('--text - reads texts from stdin (one per line, blank lines left out), --texts-file reads a file; same vectors as --text', async () => {
    const texts = C.text_short.texts.slice(0, 3);
    const fromStdin = await run(['embed', '--model', model, '--text', '-', '--short', '--raw', '--json', '--quiet'], {}, false, texts.join('\r\n') + '\n\n');
    assert.equal(fromStdin.code, 0, fromStdin.err);
    const file = join(tmp, 'texts.txt');
    writeFileSync(file, texts.join('\n'));
    const fromFile = await run(['embed', '--model', model, '--texts-file', file, '--short', '--raw', '--jsonl', '--quiet']);
    assert.equal(fromFile.code, 0, fromFile.err);
    const a = (JSON.parse(fromStdin.out) as { embeddings: number[][] }).embeddings;
    const b = fromFile.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { text: string; embedding: number[] });
    assert.equal(a.length, 3);
    assert.deepEqual(
      b.map((x) => x.text),
      texts,
    );
    texts.forEach((_, i) => {
      assert.ok(relL2(a[i], C.text_short.features[i]) <= 1e-4);
      assert.ok(relL2(b[i].embedding, C.text_short.features[i]) <= 1e-4);
    });
    const missing = await run(['embed', '--model', model, '--texts-file', join(tmp, 'nope.txt'), '--json']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /\[INPUT_INVALID\]/);
  });

  test('progress (model load, images embedded) goes to stderr only when it is a terminal, and not with --quiet', async () => {
    const tty = await run(['embed', '--model', model, dir, '--json'], {}, true);
    assert.equal(tty.code, 0, tty.err);
    assert.match(tty.err, new RegExp(`embed ${pngs.length}/${pngs.length}`));
    assert.ok(tty.err.includes(`fgclip: loading ${model} … `), 'the model load has a status line');
    const pipe = await run(['embed', '--model', model, dir, '--json']);
    assert.doesNotMatch(pipe.err, /embed \d+\/\d+|loading/);
    const quiet = await run(['embed', '--model', model, dir, '--json', '--quiet'], {}, true);
    assert.equal(quiet.err, '');
    // `--text -` on a terminal says it is waiting for typed texts (a pipe gets no such line)
    const typed = await run(['embed', '--model', model, '--text', '-', '--json', '--quiet'], {}, true, 'a cat\n');
    assert.equal(typed.code, 0, typed.err);
    assert.match(typed.err, /reading texts from the terminal, one per line; end with Ctrl-D/);
    const piped = await run(['embed', '--model', model, '--text', '-', '--json', '--quiet'], {}, false, 'a cat\n');
    assert.equal(piped.err, '');
  });
});
