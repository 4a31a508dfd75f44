// fgclip, whole process, as an application would run it: the built package (dist/), FgClip.load (graph cache warm)
// and encodeImages on the JPEG paths (the library's defaults: worker pool for decoding and resizing when a call has
// more than one batch, batches of 8, global-only vision pass).
// Usage: node bench/fgclip-child.mjs '<json {dist, model, graphCache, images, threads}>'; prints one JSON line.
const req = JSON.parse(process.argv[2]);
const { FgClip } = await import(req.dist);
const importsMs = performance.now();
const m = await FgClip.load(req.model, { threads: req.threads, graphCache: req.graphCache });
const loadedMs = performance.now();
const r = await m.encodeImages(req.images);
const doneMs = performance.now();
m.dispose();
process.stdout.write(`${JSON.stringify({ embeddings: r.length, fromGraphCache: m.fromGraphCache, importsMs, loadMs: loadedMs - importsMs, encodeMs: doneMs - loadedMs, inProcessMs: doneMs })}\n`);
