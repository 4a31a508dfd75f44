// The fgclip browser demo: a static page (no server logic). Serve dist/browser/ with
//   Cross-Origin-Opener-Policy: same-origin  and  Cross-Origin-Embedder-Policy: require-corp
// and open /demo/?model=qihoo360/fg-clip-base (or ?model=/path/to/folder/, &endpoint=…, &device=wasm).
import { FgClip, viridis } from '../index.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = { model: undefined, images: [], results: [] };
$('model').value = params.get('model') ?? 'qihoo360/fg-clip-base';
if (params.get('device')) $('device').value = params.get('device');

function envMessages(info) {
  const env = $('env');
  env.replaceChildren();
  const add = (cls, text, id) => {
    const p = document.createElement('p');
    p.className = cls;
    p.id = id;
    p.textContent = text;
    env.append(p);
  };
  const isolated = info ? info.crossOriginIsolated : self.crossOriginIsolated;
  if (!isolated) add('warn', 'Threads are off: this page is not cross-origin isolated, so onnxruntime-web runs on one thread (slower). Serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp.', 'isolation-warning');
  const gpu = info ? info.webgpuAvailable : undefined;
  // device 'auto' that did not use WebGPU says why (no WebGPU, no adapter, a software adapter, or the model failed on it)
  if (info?.deviceFallback) add('warn', `Not using WebGPU: ${info.deviceFallback.message}.`, 'webgpu-warning');
  else if (gpu === false || (gpu === undefined && !('gpu' in navigator))) add('warn', 'WebGPU is unavailable in this browser (no adapter): the model runs on WebAssembly (CPU).', 'webgpu-warning');
  const adapter = info?.webgpuAdapter;
  const gpuName = adapter ? ` (${[adapter.vendor, adapter.architecture].filter(Boolean).join(' ') || 'adapter'}${adapter.isFallbackAdapter ? ', a software adapter: slow' : ''})` : '';
  if (info) add('ok', `Running on ${info.device === 'webgpu' ? `WebGPU${gpuName}` : `WebAssembly, ${info.threads} thread${info.threads === 1 ? '' : 's'}`}.`, 'device-info');
}
envMessages();

function fmtBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

function showProgress(p) {
  $('progress-box').hidden = false;
  const bar = $('progress');
  if (p.total) {
    bar.max = p.total;
    bar.value = p.loaded;
  } else bar.removeAttribute('value');
  const verb = { download: 'Downloading', verify: 'Verifying', build: 'Building graphs', load: 'Loading', cached: 'From cache' }[p.phase] ?? p.phase;
  $('progress-text').textContent = `${verb} ${p.file}${p.total ? `: ${fmtBytes(p.loaded)} / ${fmtBytes(p.total)}` : ''}`;
}

/** Loads `source` (a Hub id, a folder URL, or the files of a picked folder) and shows what happened. */
async function loadModel(source, label) {
  $('load').disabled = true;
  $('run').disabled = true;
  $('model-status').textContent = 'Loading…';
  $('model-status').dataset.loaded = 'loading';
  try {
    await state.model?.dispose();
    state.model = undefined;
    const opts = { device: $('device').value, onProgress: showProgress };
    if (params.get('endpoint')) opts.endpoint = params.get('endpoint');
    if (params.get('threads')) opts.threads = Number(params.get('threads'));
    state.model = await FgClip.load(source, opts);
    const i = state.model.info;
    $('model-status').textContent = `Loaded ${label} (${i.imageSize}px, ${i.embeddingDim}-d, graphs ${i.graphs === 'built' ? 'built from the checkpoint' : i.graphs === 'graph-cache' ? 'from the browser cache' : 'from the exported folder'}) in ${(i.loadMs / 1000).toFixed(1)} s.`;
    $('model-status').dataset.loaded = 'true';
    $('model-status').dataset.graphs = i.graphs;
    envMessages(i);
    // FG-CLIP 2 scores each caption on its own (sigmoid): the percentages do not sum to 100
    $('score-hint').textContent =
      i.scoreKind === 'sigmoid'
        ? "Probabilities are the model card's independent sigmoid(exp(logit_scale)·cos + logit_bias) per caption: they do not sum to 100%."
        : "Probabilities are the model card's softmax(exp(logit_scale)·cos).";
    $('progress-box').hidden = true;
    $('run').disabled = state.images.length === 0;
  } catch (e) {
    $('model-status').textContent = `Could not load the model: ${e.code ? `[${e.code}] ` : ''}${e.message}`;
    $('model-status').dataset.loaded = 'error';
  } finally {
    $('load').disabled = false;
  }
}

$('model-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void loadModel($('model').value.trim(), $('model').value.trim());
});
// a model folder on this computer (Hugging Face layout or an fgclip export): read in place, nothing uploaded
$('model-folder').addEventListener('change', (ev) => {
  const files = ev.target.files;
  if (!files || files.length === 0) return;
  const folder = files[0].webkitRelativePath.split('/')[0] || 'the picked folder';
  void loadModel(files, folder);
});

$('clear-cache').addEventListener('click', async () => {
  await FgClip.clearCache();
  $('model-status').textContent = 'Cached models deleted.';
});

function addFiles(files) {
  state.images = [...files].filter((f) => f.type.startsWith('image/') || /\.(jpe?g|png|webp|gif|bmp|avif)$/i.test(f.name));
  $('run-status').textContent = `${state.images.length} image${state.images.length === 1 ? '' : 's'} selected.`;
  $('run').disabled = !state.model || state.images.length === 0;
}
$('file').addEventListener('change', (ev) => addFiles(ev.target.files));
const drop = $('drop');
drop.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  addFiles(ev.dataTransfer.files);
});

$('run').addEventListener('click', async () => {
  const captions = $('captions').value.split('\n').map((s) => s.trim()).filter(Boolean);
  if (captions.length === 0 || state.images.length === 0) return;
  $('run').disabled = true;
  $('run-status').textContent = 'Running…';
  const t0 = performance.now();
  try {
    const text = await state.model.encodeTexts(captions);
    const imgs = await state.model.encodeImages(state.images, { dense: true });
    state.results = imgs.map((r, i) => ({ file: state.images[i], enc: r, probs: state.model.probabilities(r.embedding, text.embeddings) }));
    state.captions = captions;
    state.text = text.embeddings;
    $('run-status').textContent = `Done in ${((performance.now() - t0) / 1000).toFixed(2)} s.`;
    await renderCards();
  } catch (e) {
    $('run-status').textContent = `Failed: ${e.code ? `[${e.code}] ` : ''}${e.message}`;
  } finally {
    $('run').disabled = false;
  }
});

function dot(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

async function renderCards() {
  const cards = $('cards');
  cards.replaceChildren();
  for (const [k, r] of state.results.entries()) {
    const card = document.createElement('article');
    card.className = 'card';
    card.dataset.index = String(k);
    const bmp = await createImageBitmap(r.file);
    const stage = document.createElement('div');
    stage.className = 'stage';
    const photo = document.createElement('canvas');
    photo.width = bmp.width;
    photo.height = bmp.height;
    photo.className = 'photo';
    photo.setAttribute('role', 'img');
    photo.setAttribute('aria-label', `${r.file.name} with the heatmap of the selected caption`);
    const overlay = document.createElement('canvas');
    overlay.width = bmp.width;
    overlay.height = bmp.height;
    overlay.className = 'overlay';
    stage.append(photo, overlay);
    const side = document.createElement('div');
    const h = document.createElement('h3');
    h.textContent = `${r.file.name} (${r.enc.width} × ${r.enc.height})`;
    const probs = document.createElement('div');
    probs.className = 'probs';
    const regions = document.createElement('ol');
    regions.className = 'regions';
    side.append(h, probs, regions);
    card.append(stage, side);
    cards.append(card);

    const draw = (c) => drawHeatmap(photo, bmp, r.enc, state.text[c]);
    state.captions.forEach((cap, c) => {
      const row = document.createElement('div');
      row.className = 'bar';
      row.dataset.prob = String(r.probs[c]);
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = cap;
      b.setAttribute('aria-pressed', String(c === argmax(r.probs)));
      b.addEventListener('click', () => {
        probs.querySelectorAll('button').forEach((x) => x.setAttribute('aria-pressed', 'false'));
        b.setAttribute('aria-pressed', 'true');
        draw(c);
      });
      const track = document.createElement('div');
      track.className = 'track';
      const fill = document.createElement('div');
      fill.className = 'fill';
      fill.style.width = `${(100 * r.probs[c]).toFixed(1)}%`;
      track.append(fill);
      const v = document.createElement('span');
      v.className = 'value';
      v.textContent = `${(100 * r.probs[c]).toFixed(1)}%`;
      row.append(b, track, v);
      probs.append(row);
    });
    draw(argmax(r.probs));
    enableBoxes(overlay, r, regions);
  }
}

function argmax(a) {
  return a.reduce((best, v, i) => (v > a[best] ? i : best), 0);
}

/** The photo with the caption's patch similarities (viridis, 50 % opacity, min–max scaled) over it. */
function drawHeatmap(canvas, bmp, enc, text) {
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bmp, 0, 0);
  const [gh, gw] = enc.grid;
  const sims = enc.dense.map((p) => dot(p, text));
  const lo = Math.min(...sims);
  const hi = Math.max(...sims);
  const small = new OffscreenCanvas(gw, gh);
  const sctx = small.getContext('2d');
  const img = sctx.createImageData(gw, gh);
  sims.forEach((s, i) => {
    const [r, g, b] = viridis(hi > lo ? (s - lo) / (hi - lo) : 0.5);
    img.data.set([r, g, b, 255], 4 * i);
  });
  sctx.putImageData(img, 0, 0);
  ctx.globalAlpha = 0.5;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  ctx.globalAlpha = 1;
  canvas.dataset.heatmap = 'drawn';
}

/** Drag a box on the photo: its region feature is scored against every caption. */
function enableBoxes(overlay, r, list) {
  let start;
  const pos = (ev) => {
    const b = overlay.getBoundingClientRect();
    return [Math.round(((ev.clientX - b.left) / b.width) * overlay.width), Math.round(((ev.clientY - b.top) / b.height) * overlay.height)];
  };
  const ctx = overlay.getContext('2d');
  overlay.addEventListener('pointerdown', (ev) => {
    start = pos(ev);
    overlay.setPointerCapture(ev.pointerId);
  });
  overlay.addEventListener('pointermove', (ev) => {
    if (!start) return;
    const [x, y] = pos(ev);
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    ctx.strokeStyle = '#ff3b30';
    ctx.lineWidth = Math.max(2, overlay.width / 200);
    ctx.strokeRect(start[0], start[1], x - start[0], y - start[1]);
  });
  overlay.addEventListener('pointerup', async (ev) => {
    if (!start) return;
    const [x, y] = pos(ev);
    const box = [Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)];
    start = undefined;
    if (box[2] - box[0] < 4 || box[3] - box[1] < 4) return;
    const li = document.createElement('li');
    li.dataset.box = JSON.stringify(box);
    try {
      const [enc] = await state.model.encodeImages([r.file], { boxes: [[box]] });
      const p = state.model.probabilities(enc.regions[0], state.text);
      li.className = 'region';
      const ranked = state.captions.map((c, i) => [c, p[i]]).sort((a, b) => b[1] - a[1]);
      li.textContent = `Box [${box.join(', ')}]: ${ranked.map(([c, v]) => `${c} ${(100 * v).toFixed(1)}%`).join(', ')}`;
    } catch (e) {
      li.className = 'region-error';
      li.textContent = `Box [${box.join(', ')}]: ${e.code ? `[${e.code}] ` : ''}${e.message}`;
    }
    list.append(li);
  });
}

if (params.get('autoload') === '1') $('model-form').requestSubmit();
