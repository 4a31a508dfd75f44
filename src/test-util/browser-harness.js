// Page-side helpers for the browser tests (served as /test/harness.js; plain JS, run by Chromium).
import { FgClip, decodeImage } from '/index.js';

const models = {};
const arr = (a) => (a ? Array.from(a) : undefined);
const blobs = (urls) => Promise.all(urls.map(async (u) => (await fetch(u)).blob()));

async function pick(base, names, kind) {
  const blobsOf = await Promise.all(names.map(async (n) => (await fetch(base + n)).blob()));
  // a fixed lastModified: the same file on a later visit (File identity is name, size and date)
  if (kind === 'file') return blobsOf.map((b, i) => new File([b], names[i], { lastModified: 1_700_000_000_000 }));
  return Object.fromEntries(names.map((n, i) => [n, blobsOf[i]]));
}

window.h = {
  FgClip,
  async load(key, source, opts = {}) {
    const progress = [];
    const t0 = performance.now();
    const m = await FgClip.load(source, { ...opts, onProgress: (p) => progress.push({ ...p, t: performance.now() - t0 }) });
    models[key] = m;
    return { info: m.info, progress, ms: performance.now() - t0 };
  },
  async loadError(source, opts = {}) {
    try {
      const m = await FgClip.load(source, opts);
      await m.dispose();
      return null;
    } catch (e) {
      return { name: e.name, code: e.code, message: e.message, details: e.details };
    }
  },
  /** the files of a served folder as the user would pick them: File[] (kind 'file') or { path: Blob } ('record') */
  async loadFiles(key, base, names, kind, opts = {}) {
    return window.h.load(key, await pick(base, names, kind), opts);
  },
  async loadFilesError(base, names, opts = {}) {
    return window.h.loadError(await pick(base, names, 'file'), opts);
  },
  /** navigator.storage.estimate() and the files under fgclip/ in OPFS */
  async storage() {
    const { usage, quota } = await navigator.storage.estimate();
    const files = [];
    const walk = async (d, p) => {
      for await (const [n, h] of d.entries()) {
        if (h.kind === 'file') files.push(p + n);
        else await walk(h, `${p + n}/`);
      }
    };
    await walk(await navigator.storage.getDirectory(), '');
    return { usage, quota, files };
  },
  async texts(key, texts, mode = 'auto') {
    const r = await models[key].encodeTexts(texts, { mode, normalize: false });
    return { embeddings: r.embeddings.map(arr), modes: r.modes, truncated: r.truncated, tokenCounts: r.tokenCounts };
  },
  async images(key, urls, opts = {}) {
    const r = await models[key].encodeImages(await blobs(urls), { normalize: false, ...opts });
    return r.map((x) => ({ embedding: arr(x.embedding), dense: x.dense?.map(arr), regions: x.regions?.map(arr), width: x.width, height: x.height, grid: x.grid }));
  },
  async imageData(key, url) {
    const bmp = await createImageBitmap(await (await fetch(url)).blob(), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const c = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = c.getContext('2d');
    ctx.drawImage(bmp, 0, 0);
    const [r] = await models[key].encodeImages([ctx.getImageData(0, 0, bmp.width, bmp.height)], { normalize: false });
    return arr(r.embedding);
  },
  /** the same image as a URL string, a URL object, an ImageBitmap, an <img> and a canvas: one embedding each */
  async imageSources(key, url) {
    const blob = await (await fetch(url)).blob();
    const bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const img = new Image();
    img.src = url;
    const canvas = document.createElement('canvas');
    canvas.width = bmp.width;
    canvas.height = bmp.height;
    canvas.getContext('2d').drawImage(bmp, 0, 0);
    const r = await models[key].encodeImages([url, new URL(url, location.href), bmp, img, canvas], { normalize: false });
    return r.map((x) => arr(x.embedding));
  },
  async probabilities(key, image, texts) {
    return models[key].probabilities(Float32Array.from(image), texts.map((t) => Float32Array.from(t)));
  },
  async encodeError(key, kind) {
    try {
      if (kind === 'empty') await models[key].encodeTexts([]);
      else if (kind === 'not-image') await models[key].encodeImages([new Blob([new Uint8Array([1, 2, 3, 4])])]);
      else if (kind === 'truncated-png') {
        const b = new Uint8Array(await (await fetch('/goldens/images/gradient_97x61.png')).arrayBuffer());
        await models[key].encodeImages([new Blob([b.slice(0, b.length - 40)])]);
      } else if (kind === 'missing-url') await models[key].encodeImages(['/goldens/images/no-such-image.png']);
      else if (kind === 'not-an-image-type') await models[key].encodeImages([{ width: 2, height: 2 }]);
      else if (kind === 'bad-box') await models[key].encodeImages(await blobs(['/goldens/images/tiny_7x5.png']), { boxes: [[[5, 5, 1, 1]]] });
      return null;
    } catch (e) {
      return { name: e.name, code: e.code, message: e.message };
    }
  },
  async decode(name, decoder) {
    const bytes = new Uint8Array(await (await fetch(`/goldens/images/${name}`)).arrayBuffer());
    const want = new Uint8Array(await (await fetch(`/goldens/preprocessed/${name}.rgb.u8`)).arrayBuffer());
    const img = await decodeImage(bytes, { decoder });
    let differ = 0;
    let max = 0;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(img.data[i] - want[i]);
      if (d > 0) differ++;
      if (d > max) max = d;
    }
    return { width: img.width, height: img.height, bytes: img.data.length, expected: want.length, differ, max };
  },
  /** a 10 ms timer on the page while the worker encodes n copies of an image: how often it ran, its longest gap */
  async responsiveness(key, url, n) {
    const blob = (await blobs([url]))[0];
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const iv = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 10);
    const t0 = performance.now();
    await models[key].encodeImages(Array(n).fill(blob));
    const ms = performance.now() - t0;
    clearInterval(iv);
    return { ticks, maxGap, ms };
  },
  async dispose(key) {
    await models[key]?.dispose();
    delete models[key];
  },
  async disposedError(key) {
    const m = models[key];
    await m.dispose();
    delete models[key];
    try {
      await m.encodeTexts(['x']);
      return null;
    } catch (e) {
      return { code: e.code, message: e.message };
    }
  },
};
window.harnessReady = true;

// Timing helpers for `npm run bench` (bench/browser.ts): wall time of each call, after warm-up calls.
window.h.timeImages = async (key, urls, runs, warmup = 1) => {
  const bs = await blobs(urls);
  for (let i = 0; i < warmup; i++) await models[key].encodeImages(bs);
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await models[key].encodeImages(bs);
    ms.push(performance.now() - t);
  }
  return ms;
};
window.h.timeTexts = async (key, texts, runs, warmup = 1) => {
  for (let i = 0; i < warmup; i++) await models[key].encodeTexts(texts);
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await models[key].encodeTexts(texts);
    ms.push(performance.now() - t);
  }
  return ms;
};
