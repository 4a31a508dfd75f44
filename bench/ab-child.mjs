#!/usr/bin/env node
// Same-run A/B of two builds of fgclip (e.g. an earlier commit in a worktree against this checkout), for figures a
// loaded machine cannot give in absolute terms. One child = one build: it loads CKPT with 2 threads and prints one
// JSON line of [wall ms, process CPU ms] medians of 5 timed calls (after 2 warm-ups) for encodeImages(8 JPEGs of
// JPEG_DIR), encodeTexts(16 captions of ~130 tokens) and encodeTexts(64 short prompts). Alternate the two builds:
//
//   git worktree add --detach /tmp/old ef0388b && (cd /tmp/old && ONNXRUNTIME_NODE_INSTALL=skip npm ci)
//   CK=.cache/bench/fg-clip-base-synthetic-v1 J=.cache/bench/images-v1-1024x768   # made by `npm run bench`
//   for i in 1 2 3 4; do FGCLIP_CACHE=/tmp/ab-old node bench/ab-child.mjs /tmp/old $CK $J
//                        FGCLIP_CACHE=/tmp/ab-new node bench/ab-child.mjs "$PWD" $CK $J; done
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [repo, ck, jdir] = process.argv.slice(2);
if (!repo || !ck || !jdir) {
  console.error('usage: node bench/ab-child.mjs REPO CHECKPOINT JPEG_DIR');
  process.exit(2);
}
const { FgClip } = await import(pathToFileURL(join(resolve(repo), 'dist', 'index.js')).href);
const m = await FgClip.load(ck, { threads: 2 });
const colors = ['red', 'blue', 'green', 'yellow', 'white', 'black', 'orange', 'purple'];
const things = ['bicycle', 'car', 'dog', 'cat', 'umbrella', 'bench', 'kite', 'boat', 'horse', 'chair'];
const longs = Array.from({ length: 16 }, (_, i) => {
  const parts = [];
  for (let k = 0; k < 12; k++) parts.push(`a ${colors[(i + k) % 8]} ${things[(i * 3 + k) % 10]} next to a ${colors[(i + 2 * k) % 8]} ${things[(i + k * 7) % 10]}`);
  return `A detailed photo of a busy street scene where ${parts.join(', and ')}.`;
});
const shorts = Array.from({ length: 64 }, (_, i) => `a photo of a ${colors[i % 8]} ${things[i % 10]}`);
const jpegs = readdirSync(jdir).filter((f) => f.endsWith('.jpg')).sort().slice(0, 8).map((f) => join(jdir, f));
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
async function time(fn) {
  for (let i = 0; i < 2; i++) await fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    const u = process.cpuUsage();
    await fn();
    const d = process.cpuUsage(u);
    wall.push(performance.now() - s);
    cpu.push((d.user + d.system) / 1000);
  }
  return [Math.round(med(wall)), Math.round(med(cpu))];
}
const first = await m.encodeTexts([longs[0]]);
const image_ms = await time(() => m.encodeImages(jpegs));
const long_ms = await time(() => m.encodeTexts(longs));
const short_ms = await time(() => m.encodeTexts(shorts));
console.log(JSON.stringify({ image_ms, long_ms, short_ms, tokens: first.tokenCounts?.[0] }));
m.dispose?.();
