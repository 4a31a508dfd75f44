/**
 * The README's FG-CLIP 2 model-card examples run as written: the ```ts block of the "FG-CLIP 2" section (importing
 * 'fgclip', here this checkout's src/index.ts) and every line of its ```sh block (through the CLI's main), with only
 * the Hub id `qihoo360/fg-clip2-base` replaced by the goldens' fgclip2-tiny and the goldens' copy of the card's
 * cat_dfclor.jpg in the working folder. What the library block prints is checked: the scoring kind, the English
 * captions' sigmoid probabilities equal to the goldens' `card_long_probs` of that photo (the reference's model-card
 * flow, 1e-4), the Chinese captions' (the model's own, 1e-6), one map of the image's own grid per word, a vector and
 * ranked labels per box.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { FgClip } from '../../model/handle.js';
import { run as runCli } from '../../test-util/cli.js';
import { REPO_ROOT } from '../../test-util/goldens.js';
import { goldenV2Path, readGoldenV2Json } from '../../test-util/goldens-v2.js';

const HUB_ID = 'qihoo360/fg-clip2-base';
const TINY = goldenV2Path('fgclip2-tiny');
const ROOT = mkdtempSync(join(tmpdir(), 'fgclip2-readme-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));
copyFileSync(goldenV2Path('images', 'cat_dfclor.jpg'), join(ROOT, 'cat_dfclor.jpg'));

function section(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('## FG-CLIP 2 (bilingual, NaFlex)');
  assert.ok(at >= 0, 'the README has its FG-CLIP 2 section');
  const end = readme.indexOf('\n## ', at + 10);
  return readme.slice(at, end < 0 ? undefined : end);
}

function block(lang: string, marker: string): string {
  const blocks = [...section().matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
  const b = blocks.find((x) => x.includes(marker));
  assert.ok(b, `the FG-CLIP 2 section has a ${lang} block with ${marker}`);
  return b;
}

/** A shell line's words (double quotes group; a trailing # comment dropped). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.replace(/\s+#.*$/, '').matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2]);
  return out;
}

interface CardCase {
  image: string;
  spatial_shapes: [number, number];
  card_long_probs: number[];
}

describe("README: FG-CLIP 2's model-card examples", () => {
  it('the library block runs as written (Hub id → fgclip2-tiny) and prints what the card computes', async () => {
    const code = block('ts', `FgClip.load('${HUB_ID}')`);
    assert.match(code, /from 'fgclip'/);
    const body = code
      .replaceAll("from 'fgclip'", `from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src', 'index.ts')).href)}`)
      .replaceAll(`'${HUB_ID}'`, JSON.stringify(TINY));
    // console.log's arguments are collected as JSON (the block itself is unchanged)
    const script = `const __logs = []; console.log = (...a) => __logs.push(a);\n${body}\nprocess.stdout.write(JSON.stringify(__logs));\n`;
    writeFileSync(join(ROOT, 'example.mts'), script);
    const tsx = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    assert.ok(existsSync(new URL(tsx)));
    const out = execFileSync(process.execPath, ['--import', tsx, 'example.mts'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
    const logs = JSON.parse(out) as unknown[][];
    const card = readGoldenV2Json<{ end_to_end: { cases: CardCase[] } }>('fgclip2-tiny.cases.json').end_to_end.cases.find((c) =>
      c.image.endsWith('cat_dfclor.jpg'),
    ) as CardCase;
    assert.equal(logs[0][0], 'sigmoid');
    const english = logs[1][0] as number[];
    english.forEach((p, i) => assert.ok(Math.abs(p - card.card_long_probs[i]) <= 1e-4, `English caption ${i}: ${p} vs ${card.card_long_probs[i]}`));
    // the Chinese captions: the model's own sigmoids of the same vectors
    const chinese = logs[2][0] as number[];
    const m = await FgClip.load(TINY, { graphCache: false, preprocessWorkers: 0 });
    try {
      const zh = [...code.matchAll(/^ {2}'(一[^']*)',$/gm)].map((x) => x[1]);
      assert.equal(zh.length, 4);
      const [img] = await m.encodeImages([join(ROOT, 'cat_dfclor.jpg')]);
      const want = m.probabilities(img.embedding, (await m.encodeTexts(zh, { mode: 'long' })).embeddings);
      chinese.forEach((p, i) => assert.ok(Math.abs(p - want[i]) <= 1e-6, `Chinese caption ${i}: ${p} vs ${want[i]}`));
    } finally {
      m.dispose();
    }
    assert.deepEqual(logs[3], [card.spatial_shapes, 6]);
    assert.deepEqual(logs[4], [2]);
    const regionLines = logs.slice(5);
    assert.deepEqual(
      regionLines.map((l) => l[0]),
      [
        [0, 0, 320, 480],
        [300, 120, 640, 480],
      ],
    );
    for (const l of regionLines) {
      assert.ok(['black cat', 'white cat', '电脑'].includes(l[1] as string));
      assert.ok((l[2] as number) > 0 && (l[2] as number) <= 1);
    }
  });

  it('every CLI line runs as written (Hub id → fgclip2-tiny, in the folder holding cat_dfclor.jpg)', async () => {
    const lines = block('sh', `--model ${HUB_ID}`)
      .split('\n')
      .filter((l) => l.trim() !== '');
    assert.ok(lines.length >= 4);
    const cwd = process.cwd();
    process.chdir(ROOT);
    try {
      for (const line of lines) {
        const argv = words(line);
        assert.equal(argv[0], 'fgclip');
        const r = await runCli(argv.slice(1).map((a) => (a === HUB_ID ? TINY : a)));
        assert.equal(r.code, 0, `${line}\n${r.err}`);
        if (argv[1] === 'classify') assert.match(r.out + r.err, /sigmoid/i, 'classify says its probabilities are sigmoids');
      }
      assert.ok(existsSync(join(ROOT, 'heat.png')), 'fgclip heatmap wrote heat.png');
    } finally {
      process.chdir(cwd);
    }
  });
});
