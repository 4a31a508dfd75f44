/**
 * The real `bin/fgclip.js` (running the built dist/, as `npm ci` leaves it) with command lines far beyond the
 * ~29 kB at which onnxruntime-node's initialisation overflows the stack and the process dies with SIGSEGV: the bin
 * re-executes itself with the arguments passed through a pipe. Embeddings compared with the goldens (relative L2
 * ≤ 1e-4, the text tolerance); exit codes, stdin and stdout pass through the re-execution.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { goldenPath, readGoldenJson, REPO_ROOT, relL2 } from '../test-util/goldens.js';

const BIN = join(REPO_ROOT, 'bin', 'fgclip.js');

function runBin(args: readonly string[], stdin = ''): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (err += String(d)));
  return new Promise((resolve, reject) => {
    // a child that exits without reading its input (a usage error) closes the pipe first on a busy machine: EPIPE
    // here is not a failure, its exit status and output are what the tests check
    child.stdin.on('error', (e: NodeJS.ErrnoException) => e.code === 'EPIPE' || reject(e));
    child.stdin.end(stdin);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

const bytes = (args: readonly string[]) => args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);

describe('bin/fgclip.js with a long command line (onnxruntime-node crashes above ~29 kB)', () => {
  const C = readGoldenJson<{ text_short: { texts: string[]; features: number[][] } }>('fgclip-tiny.cases.json');
  const model = goldenPath('fgclip-tiny');
  assert.ok(existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js')), 'dist/ is built (npm ci / npm run build)');

  test('a > 64 kB command line of --text arguments: exit 0, every embedding = golden (rel L2 ≤ 1e-4)', async () => {
    // the golden texts 40 times, each copy padded with trailing spaces (the tokenizer strips them) to make it long
    const texts = Array.from({ length: 40 }, () => C.text_short.texts.map((t) => t + ' '.repeat(150))).flat();
    const args = ['embed', '--model', model, '--short', '--raw', '--json', '--quiet', ...texts.flatMap((t) => ['--text', t])];
    assert.ok(bytes(args) > 64 * 1024, `${bytes(args)} bytes`);
    const r = await runBin(args);
    assert.equal(r.signal, null, r.err);
    assert.equal(r.code, 0, r.err);
    const got = (JSON.parse(r.out) as { embeddings: number[][] }).embeddings;
    assert.equal(got.length, texts.length);
    texts.forEach((_, i) => assert.ok(relL2(got[i], C.text_short.features[i % C.text_short.texts.length]) <= 1e-4, `text ${i}`));
  });

  test('through the re-execution: a usage error keeps exit 2 and its message; --text - still reads stdin', async () => {
    const long = ['--text', C.text_short.texts[1] + ' '.repeat(40 * 1024)];
    const bad = await runBin(['embed', '--model', model, ...long, '--frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown option '--frobnicate'/);
    const r = await runBin(['embed', '--model', model, '--short', '--raw', '--jsonl', '--quiet', '--text', '-', ...long], `${C.text_short.texts[0]}\n`);
    assert.equal(r.code, 0, r.err);
    const lines = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { text: string; embedding: number[] });
    assert.equal(lines.length, 2);
    assert.equal(lines[0].text, C.text_short.texts[0]);
    assert.ok(relL2(lines[0].embedding, C.text_short.features[0]) <= 1e-4);
    assert.ok(relL2(lines[1].embedding, C.text_short.features[1]) <= 1e-4);
  });

  test('a reader that goes away (| head -1): the bin stops quietly with status 141 (SIGPIPE convention), no stack trace', async () => {
    // 2000 texts: far more output than a pipe buffer holds, so writes continue after the reader has gone
    const texts = Array.from({ length: 2000 }, (_, i) => `a photo of ${i} cats`).join('\n');
    const child = spawn(process.execPath, [BIN, 'embed', '--model', model, '--text', '-', '--jsonl', '--quiet'], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end(texts);
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    let first = '';
    child.stdout.on('data', (d) => {
      first += String(d);
      if (first.includes('\n')) child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.match(first, /^\{"index":0,"text":"a photo of 0 cats"/);
    assert.equal(code, 141, err);
    assert.equal(err, '');
  });

  test('SIGTERM to the re-executing bin reaches the child; both end with the signal (no orphan left running)', async () => {
    // `--text -` with stdin left open: the child waits on stdin, before loading anything
    const child = spawn(process.execPath, [BIN, 'embed', '--model', model, '--text', '-', '--text', 'z'.repeat(20 * 1024)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // the bin's children, read from /proc: fast enough to send the signal right after the re-execution starts,
    // the moment that once killed the bin alone and left the child running
    const grandchildren = () =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
            return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === child.pid;
          } catch {
            return false; // ended meanwhile
          }
        });
    let kids: string[] = [];
    const t0 = performance.now();
    while (kids.length === 0 && child.exitCode === null) {
      assert.ok(performance.now() - t0 < 60_000, 'the bin has not re-executed itself after 60 s'); // watchdog
      kids = grandchildren();
    }
    assert.equal(kids.length, 1, 'the bin re-executed itself once');
    child.kill('SIGTERM');
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_c, sig) => resolve(sig)));
    assert.equal(signal, 'SIGTERM');
    assert.equal(spawnSync('kill', ['-0', kids[0]]).status, 1, 'the re-executed child is gone');
  });

  test('the re-execution channel missing (fd 3 not a pipe): one typed line, exit 1, no stack trace', async () => {
    const r = await runBin(['--argv-from-fd=3']);
    assert.equal(r.code, 1);
    assert.match(r.err, /^fgclip: error \[INPUT_INVALID\]: could not read the arguments from the parent process \([^\n]+\)\n$/);
  });
});
