import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, progressBar } from './progress.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; out: string[] } {
  const out: string[] = [];
  const stream = { isTTY, columns: 120, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream;
  return { stream, out };
}

describe('progressBar', () => {
  test('not a TTY (pipe, log file, CI): writes nothing at all', () => {
    const { stream, out } = fakeStream(false);
    const bar = progressBar(stream);
    bar({ file: 'model.safetensors', received: 0, total: 100 });
    bar({ file: 'model.safetensors', received: 100, total: 100 });
    assert.deepEqual(out, []);
  });

  test('TTY: one line redrawn in place (\\r + clear) with bytes, percent and rate; a newline when the file completes', () => {
    const { stream, out } = fakeStream(true);
    const bar = progressBar(stream, 0);
    bar({ file: 'model.safetensors', received: 0, total: 2_000_000 });
    bar({ file: 'model.safetensors', received: 1_000_000, total: 2_000_000 });
    bar({ file: 'model.safetensors', received: 2_000_000, total: 2_000_000 });
    assert.ok(out.slice(0, -1).every((s) => s.startsWith('\r\x1b[2K') && !s.includes('\n')));
    assert.match(out[1], /model\.safetensors 1\.0 MB \/ 2\.0 MB\s+50% .*\/s$/);
    assert.match(out.at(-2) ?? '', /100%/);
    assert.equal(out.at(-1), '\n');
    bar({ file: 'model.safetensors', received: 2_000_000, total: 2_000_000 });
    assert.equal(out.at(-1), '\n', 'nothing more once done');
  });

  test('TTY: redraws are throttled to the interval, but the final state is always drawn', () => {
    const { stream, out } = fakeStream(true);
    const bar = progressBar(stream, 60_000);
    for (let i = 0; i <= 100; i++) bar({ file: 'f', received: i, total: 100 });
    assert.equal(out.filter((s) => s.startsWith('\r')).length, 2, 'first draw and the 100% draw');
  });

  test('TTY: unknown total shows bytes without percent; a new file starts a new line', () => {
    const { stream, out } = fakeStream(true);
    const bar = progressBar(stream, 0);
    bar({ file: 'a', received: 1500 });
    bar({ file: 'b', received: 10, total: 20 });
    assert.match(out[0], /a 1\.5 kB \S+ B\/s$/);
    assert.equal(out[1], '\n');
  });

  test('formatBytes uses SI units with one decimal', () => {
    assert.deepEqual([formatBytes(999), formatBytes(1000), formatBytes(1_234_567), formatBytes(5e9)], ['999 B', '1.0 kB', '1.2 MB', '5.0 GB']);
  });
});
