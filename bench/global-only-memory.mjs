// VmRSS of one handle through a load from the graph cache, global-only vision passes, a dense pass and the first
// text call (memory of the global-only pass: BENCHMARKS.md). Usage: node bench/global-only-memory.mjs MODEL_DIR GRAPH_CACHE
// (uses dist/: npm run build first).
import { readFileSync } from 'node:fs';
const dist = new URL('../dist/index.js', import.meta.url).href;
const { FgClip } = await import(dist);
const rss = () => { const s = readFileSync('/proc/self/status', 'utf8'); return { rss: Math.round(Number(/VmRSS:\s+(\d+)/.exec(s)[1]) / 1024), hwm: Math.round(Number(/VmHWM:\s+(\d+)/.exec(s)[1]) / 1024) }; };
const out = { start: rss() };
const m = await FgClip.load(process.argv[2], { threads: 2, graphCache: process.argv[3] });
out.loaded = rss();
const S = m.imageSize; const px = new Float32Array(8 * 3 * S * S).map((_, i) => Math.sin(i) * 0.5);
await m.runVision(px, { dense: false }); out.globalOnly8 = rss();
await m.runVision(px, { dense: false }); out.globalOnly8again = rss();
await m.runVision(px); out.dense8 = rss();
await m.encodeTexts(['a photo of a cat', 'a dog']); out.text = rss();
console.log(JSON.stringify(out));
m.dispose();
