/**
 * `fgclip eval …` in-process on small synthetic datasets: the printed table, the --out JSON and --json agree with
 * the library functions (whose numbers src/eval/*.test.ts check against independent computations); errors name
 * the file and line; progress goes to stderr only when it is a terminal.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { evalBoxes, readCoco } from '../../eval/boxes.js';
import { evalFgovd, readFgovd } from '../../eval/fgovd.js';
import { evalRetrieval, readPairs } from '../../eval/retrieval.js';
import { evalZeroshot, readClassnames, readImageFolder } from '../../eval/zeroshot.js';
import { FgClip } from '../../model/handle.js';
import { goldenPath } from '../../test-util/goldens.js';
import { run } from '../../test-util/cli.js';
import { writePng } from '../../test-util/fixtures.js';

describe('fgclip eval (CLI) on fgclip-tiny', () => {
  const modelDir = goldenPath('fgclip-tiny');
  const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-eval-'));
  const env = { FGCLIP_CACHE: join(tmp, 'cache') };
  const images = join(tmp, 'images');
  const file = (n: string) => join(tmp, n);
  let model: FgClip;
  before(async () => {
    model = await FgClip.load(modelDir, { threads: 2 });
    mkdirSync(images);
    for (let i = 0; i < 4; i++) await writePng(join(images, `im${i}.png`), 30 + 4 * i, 26, i + 1);
    const texts = ['a red square', 'a blue dog', 'white cat', 'coffee', 'a bicycle', 'noise'];
    writeFileSync(
      file('fgovd.jsonl'),
      [0, 1, 2, 3, 0, 2]
        .map((i, k) =>
          JSON.stringify({
            img_path: `im${i}.png`,
            bbox: [k, 2, 12, 10],
            pos_expression: [texts[k]],
            neg_expression: texts.filter((_, j) => j !== k).slice(0, 3),
          }),
        )
        .join('\n') + '\n',
    );
    writeFileSync(file('pairs.json'), JSON.stringify([0, 1, 2, 3, 1].map((i, k) => ({ image: `im${i}.png`, caption: texts[k] }))));
    // class folders created out of sorted order; the class-names file follows the sorted order (a-class, b-class)
    for (const [n, c] of ['b-class', 'a-class'].entries()) {
      mkdirSync(join(tmp, 'folder', c), { recursive: true });
      for (let i = 0; i < 2; i++) await writePng(join(tmp, 'folder', c, `${i}.png`), 20, 20 + i, 50 + 10 * n + i);
    }
    writeFileSync(file('classnames.txt'), 'cat\ndog\n');
    writeFileSync(
      file('coco.json'),
      JSON.stringify({
        images: [0, 1].map((i) => ({ id: i + 1, file_name: `im${i}.png` })),
        annotations: [
          { id: 1, image_id: 1, bbox: [1, 1, 20, 20], category_id: 3 },
          { id: 2, image_id: 2, bbox: [5, 0, 10, 25], category_id: 1 },
        ],
        categories: [
          { id: 3, name: 'car' },
          { id: 1, name: 'person' },
        ],
      }),
    );
  });
  after(() => {
    model.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('eval fgovd: table, --out JSON and --json equal evalFgovd', async () => {
    const want = await evalFgovd(model, readFgovd(file('fgovd.jsonl')), images);
    const r = await run(['eval', 'fgovd', '-m', modelDir, '--data', file('fgovd.jsonl'), '--images', images, '--out', file('fgovd.out.json')], env);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    assert.match(lines[0], /^protocol\s+items\s+images\s+correct\s+accuracy$/);
    assert.match(lines[2], new RegExp(`^FG-OVD\\s+6\\s+4\\s+${want.correct}\\s+${(100 * want.accuracy).toFixed(2)}%$`));
    const saved = JSON.parse(readFileSync(file('fgovd.out.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(
      saved,
      JSON.parse(
        JSON.stringify({
          task: 'fgovd',
          items: 6,
          images: 4,
          correct: want.correct,
          accuracy: want.accuracy,
          data: file('fgovd.jsonl'),
          perItem: want.perItem,
        }),
      ),
    );
    const j = await run(['eval', 'fgovd', '-m', modelDir, '--data', file('fgovd.jsonl'), '--images', images, '--json'], env);
    assert.deepEqual(JSON.parse(j.out), saved);
  });

  test('eval retrieval: R@1/5/10 table and JSON equal evalRetrieval (auto text path)', async () => {
    const want = await evalRetrieval(model, readPairs(file('pairs.json')), images);
    const r = await run(['eval', 'retrieval', '-m', modelDir, '--pairs', file('pairs.json'), '--images', images, '--json'], env);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), JSON.parse(JSON.stringify({ ...want, pairs: file('pairs.json'), mode: 'auto' })));
    const t = await run(['eval', 'retrieval', '-m', modelDir, '--pairs', file('pairs.json'), '--images', images, '--short'], env);
    assert.match(t.out, /^4 images, 5 captions \(short text path\)\ndirection\s+R@1\s+R@5\s+R@10\n/);
    assert.match(t.out, new RegExp(`image→text\\s+${(100 * want.imageToText[1]).toFixed(2)}%\\s+100\\.00%\\s+100\\.00%`));
  });

  test('eval zeroshot and boxes: tables and JSON equal the library (templates none and imagenet)', async () => {
    const zs = await evalZeroshot(model, await readImageFolder(join(tmp, 'folder')), readClassnames(file('classnames.txt')), {
      templates: 'none',
      cache: false,
    });
    const r = await run(
      ['eval', 'zeroshot', '-m', modelDir, '--imagefolder', join(tmp, 'folder'), '--classnames', file('classnames.txt'), '--templates', 'none', '--json'],
      env,
    );
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { ...zs, imagefolder: join(tmp, 'folder') });
    const bx = await evalBoxes(model, readCoco(file('coco.json')), images, { templates: 'imagenet', cache: false });
    const b = await run(['eval', 'boxes', '-m', modelDir, '--annotations', file('coco.json'), '--images', images], env);
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, /^protocol\s+classes\s+templates\s+samples\s+top-1\s+top-5\n/);
    assert.match(b.out, new RegExp(`box classification\\s+2\\s+80\\s+2\\s+${(100 * bx.top1).toFixed(2)}%\\s+100\\.00%`));
  });

  test('errors: a bad jsonl line names file and line (exit 1); missing options, unknown protocol or option exit 2', async () => {
    writeFileSync(file('bad.jsonl'), `${readFileSync(file('fgovd.jsonl'), 'utf8').split('\n')[0]}\n{"img_path": "im0.png", "bbox": [1,2,3]}\n`);
    const bad = await run(['eval', 'fgovd', '-m', modelDir, '--data', file('bad.jsonl'), '--images', images], env);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /\[INPUT_INVALID\]: .*bad\.jsonl:2: bbox must be \[x, y, w, h\]/);
    for (const [args, re] of [
      [['fgovd', '-m', modelDir, '--images', images], /--data FILE\.jsonl is required/],
      [['nope'], /expected a protocol, one of fgovd, retrieval, zeroshot, boxes/],
      [[], /expected a protocol/],
      [['retrieval', '-m', modelDir, '--pairs', file('pairs.json'), '--images', images, '--long', '--short'], /exclude each other/],
      [
        ['zeroshot', '-m', modelDir, '--imagefolder', tmp, '--classnames', file('classnames.txt'), '--templates', 'bogus'],
        /--templates: expected none, imagenet or a file/,
      ],
      [['boxes', '-m', modelDir, '--annotations', file('coco.json'), '--images', images, '--data', 'x'], /unknown option '--data'/i],
    ] as [string[], RegExp][]) {
      const r = await run(['eval', ...args], env);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, re);
    }
    const mismatch = await run(['eval', 'zeroshot', '-m', modelDir, '--imagefolder', join(tmp, 'folder'), '--classnames', file('pairs.json')], env);
    assert.equal(mismatch.code, 1);
  });

  test('progress N/total is written to stderr when it is a terminal, never otherwise; --quiet silences it', async () => {
    const args = ['eval', 'fgovd', '-m', modelDir, '--data', file('fgovd.jsonl'), '--images', images, '--batch-size', '1'];
    const tty = await run(args, env, true);
    assert.match(tty.err, /\reval fgovd \d\/6/);
    assert.match(tty.err, /\reval fgovd 6\/6\n/);
    assert.equal((await run(args, env, false)).err, '');
    assert.equal((await run([...args, '--quiet'], env, true)).err, '');
  });
});
