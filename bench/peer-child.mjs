// The transformers.js-style peer, whole process (plain JavaScript, as an application would run it): onnxruntime-node
// on the exporter-pattern graph (peer-graph.ts) and sharp, doing what transformers.js 3's Node path does for
// `CLIPImageProcessor` + `CLIPVisionModelWithProjection` (src/utils/image.js, image_processors.js):
//   per image, concurrently (Promise.all): read the file, sharp decode (metadata, rotate, raw RGB) → sharp resize of
//   the shortest edge to size.shortest_edge with the bicubic kernel → sharp extract (center crop) → rescale and
//   normalize in a JavaScript loop over float32 HWC → permute to CHW; then one batch of all images through the
//   session (default session options, intra-op threads set like the library's).
// Usage: node bench/peer-child.mjs '<json {model, preprocessor, images, threads}>'; prints one JSON line of phase times.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const req = JSON.parse(process.argv[2]);
const ort = await import('onnxruntime-node');
const sharp = (await import('sharp')).default;
const importsMs = performance.now();

const session = await ort.InferenceSession.create(req.model, { executionProviders: ['cpu'], intraOpNumThreads: req.threads });
const loadedMs = performance.now();
const pp = JSON.parse(readFileSync(req.preprocessor, 'utf8'));

/** sharp pipeline → raw RGB (transformers.js's loadImageFunction: metadata, then rotate().raw()) */
async function toRaw(img) {
  await img.metadata();
  const { data, info } = await img.rotate().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8ClampedArray(data), width: info.width, height: info.height, channels: info.channels };
}
const toSharp = (im) => sharp(im.data, { raw: { width: im.width, height: im.height, channels: im.channels } });

async function preprocess(path) {
  let im = await toRaw(sharp(await readFile(path)));
  const se = pp.size.shortest_edge;
  const [w, h] = im.width <= im.height ? [se, Math.floor((se * im.height) / im.width)] : [Math.floor((se * im.width) / im.height), se];
  im = await toRaw(toSharp(im).resize({ width: w, height: h, fit: 'fill', kernel: 'cubic' }));
  const cw = pp.crop_size.width;
  const ch = pp.crop_size.height;
  im = await toRaw(toSharp(im).extract({ left: Math.floor((im.width - cw) / 2), top: Math.floor((im.height - ch) / 2), width: cw, height: ch }));
  const px = Float32Array.from(im.data);
  for (let i = 0; i < px.length; i++) px[i] *= pp.rescale_factor;
  for (let i = 0; i < px.length; i += 3) for (let c = 0; c < 3; c++) px[i + c] = (px[i + c] - pp.image_mean[c]) / pp.image_std[c];
  const chw = new Float32Array(px.length);
  const n = cw * ch;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) chw[c * n + i] = px[i * 3 + c];
  return chw;
}

const pixels = await Promise.all(req.images.map(preprocess));
const preprocessedMs = performance.now();
const per = pixels[0].length;
const batch = new Float32Array(per * pixels.length);
pixels.forEach((p, i) => batch.set(p, i * per));
const side = pp.crop_size.height;
const out = await session.run({ pixel_values: new ort.Tensor('float32', batch, [pixels.length, 3, side, pp.crop_size.width]) });
const embeddings = out.image_embeds.dims[0];
const doneMs = performance.now();
process.stdout.write(`${JSON.stringify({ embeddings, importsMs, loadMs: loadedMs - importsMs, preprocessMs: preprocessedMs - loadedMs, inferenceMs: doneMs - preprocessedMs, inProcessMs: doneMs })}\n`);
