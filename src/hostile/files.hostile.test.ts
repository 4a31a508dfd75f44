/**
 * Hostile-input suite, model folders: every file FgClip.load reads, replaced in turn by a directory, a FIFO, a
 * symlink to /dev/zero and a dangling symlink, must give a typed error before anything hangs (a FIFO's open would
 * block forever, /dev/zero never ends); and a config.json asking for 1e9 layers is refused before any allocation.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { FgClip } from '../model/handle.js';
import { goldenPath } from '../test-util/goldens.js';
import { typedOrOk } from '../test-util/hostile/expect.js';

const tmp = mkdtempSync(join(tmpdir(), 'fgclip-hostile-f-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function modelCopy(): string {
  const dir = join(tmp, `m${n++}`);
  cpSync(goldenPath('fgclip-tiny'), dir, { recursive: true });
  return dir;
}

const SPECIAL: [string, (p: string) => void][] = [
  ['a directory', (p) => mkdirSync(p)],
  ['a FIFO', (p) => execFileSync('mkfifo', [p])],
  ['a symlink to /dev/zero', (p) => symlinkSync('/dev/zero', p)],
  ['a dangling symlink', (p) => symlinkSync(join(tmp, 'no-such-file'), p)],
];
const FILES = [
  'config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'model.safetensors',
  'added_tokens.json',
];

describe('FgClip.load on folders with special files where model files should be', () => {
  for (const file of FILES) {
    test(`${file} as a directory, FIFO, /dev/zero symlink or dangling symlink: typed error, no hang (graph cache on)`, async () => {
      for (const [kind, make] of SPECIAL) {
        const dir = modelCopy();
        rmSync(join(dir, file), { force: true });
        make(join(dir, file));
        const r = await typedOrOk(`${file} as ${kind}`, () => FgClip.load(dir, { threads: 1, graphCache: join(tmp, 'cache') }));
        assert.ok(r instanceof FgClipError, `${file} as ${kind}: loaded instead of refusing`);
        assert.ok(r.message.includes(file), `${file} as ${kind}: ${r.message}`);
      }
    });
  }

  test('config.json with 1e9 layers, 1e6 hidden size or a 1e5-pixel image: CONFIG_INVALID before reading weights', async () => {
    for (const [tower, field, value] of [
      ['text_config', 'num_hidden_layers', 1e9],
      ['vision_config', 'hidden_size', 1e6],
      ['vision_config', 'image_size', 1e5],
    ] as const) {
      const dir = modelCopy();
      const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
      cfg[tower][field] = value;
      writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
      rmSync(join(dir, 'model.safetensors'));
      execFileSync('mkfifo', [join(dir, 'model.safetensors')]); // would hang if it were reached
      const r = await typedOrOk(field, () => FgClip.load(dir, { threads: 1, graphCache: false }));
      assert.ok(r instanceof FgClipError && r.code === 'CONFIG_INVALID' && r.message.includes(field), String(r));
    }
  });
});
