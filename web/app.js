// FG-CLIP playground: talks to this server's HTTP API only (/v1/models, /v1/analyze: one vision pass per analysis,
// /v1/regions when a box is drawn afterwards, /v1/collection for the gallery).
// Plain ES module, no build step, no network beyond the page's own origin.

const $ = (id) => document.getElementById(id);
const BOX_COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#008080', '#9a6324', '#800000'];
const MIN_BOX_PX = 4; // drags shorter than this (on screen) are clicks, not boxes

const state = {
  image: null, // data URI of the chosen file
  width: 0, // natural size, pixels
  height: 0,
  boxes: [], // [x1, y1, x2, y2] in image pixels
  drag: null, // {x0, y0, x1, y1} in image pixels while drawing
};

// ---- API ------------------------------------------------------------------------------------------------

async function api(path, body, { binary = false } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  const key = $('api-key').value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(path, { method: body === undefined ? 'GET' : 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      const e = await res.json();
      if (e && e.error) message = `${e.error.message} (${e.error.code})`;
    } catch {
      /* not JSON */
    }
    throw new Error(message);
  }
  return binary ? res.blob() : res.json();
}

function setStatus(text, isError = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

function captions() {
  const seen = new Set();
  const out = [];
  for (const line of $('captions').value.split('\n')) {
    const t = line.trim();
    if (t && !seen.has(t)) {
      seen.add(t);
      out.push(t);
    }
  }
  return out;
}

// ---- image ----------------------------------------------------------------------------------------------

function readFile(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

async function useFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) {
    setStatus(`${file.name} is not an image`, true);
    return;
  }
  state.image = await readFile(file);
  state.boxes = [];
  const img = $('preview');
  try {
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error(`the browser cannot display ${file.name}`));
      img.src = state.image;
    });
  } catch (e) {
    state.image = null;
    $('stage').hidden = true;
    return setStatus(e.message, true);
  }
  state.width = img.naturalWidth;
  state.height = img.naturalHeight;
  $('stage').hidden = false;
  $('image-info').textContent = `${file.name}: ${state.width} × ${state.height} px`;
  clearResults();
  syncOverlay();
  setStatus(captions().length ? 'Image loaded. Press Analyse.' : 'Image loaded. Type captions, then press Analyse.');
}

function clearResults() {
  $('probs').replaceChildren();
  $('heatmaps').replaceChildren();
  $('regions').replaceChildren();
}

// ---- results --------------------------------------------------------------------------------------------

// what the server's `scoring` field says the probabilities are
const SCORING_HINTS = {
  softmax: 'Softmax over the captions of exp(logit_scale) · cosine, as on the model card.',
  sigmoid:
    'An independent sigmoid per caption, sigmoid(exp(logit_scale) · cosine + logit_bias), as on the FG-CLIP 2 model card: the percentages do not sum to 100.',
};

function renderProbabilities(labels, order) {
  const byLabel = new Map(labels.map((l) => [l.label, l]));
  const best = labels[0].label;
  $('probs').replaceChildren(
    ...order.map((caption) => {
      const l = byLabel.get(caption);
      const pct = l.probability * 100;
      const li = document.createElement('li');
      li.className = caption === best ? 'bar best' : 'bar';
      const name = document.createElement('span');
      name.className = 'bar-label clamp';
      name.textContent = caption;
      name.title = caption;
      const track = document.createElement('span');
      track.className = 'bar-track';
      track.setAttribute('aria-hidden', 'true');
      const fill = document.createElement('span');
      fill.className = 'bar-fill';
      fill.style.width = `${Math.max(pct, 0.3)}%`;
      track.append(fill);
      const value = document.createElement('span');
      value.className = 'bar-value';
      value.dataset.prob = String(l.probability);
      value.textContent = `${pct.toFixed(pct >= 10 ? 1 : 2)}%`;
      const cos = document.createElement('span');
      cos.className = 'bar-cos';
      cos.textContent = `cos ${l.cosine.toFixed(3)}`;
      li.append(name, track, value, cos);
      return li;
    }),
  );
}

function renderHeatmaps(caps, heatmaps) {
  $('heatmaps').replaceChildren(
    ...caps.map((c, i) => {
      const fig = document.createElement('figure');
      fig.className = 'heatmap';
      const img = document.createElement('img');
      img.alt = `Heatmap of the caption "${c}" over the image`;
      img.src = heatmaps[i].png;
      const cap = document.createElement('figcaption');
      cap.className = 'clamp';
      cap.textContent = c;
      cap.title = c;
      fig.append(img, cap);
      return fig;
    }),
  );
}

async function analyse() {
  const caps = captions();
  if (!state.image) return setStatus('Choose an image first.', true);
  if (caps.length === 0) return setStatus('Type at least one caption.', true);
  $('run').disabled = true;
  setStatus('Analysing…');
  clearResults();
  drawOverlay();
  try {
    const templates = $('imagenet').checked ? 'imagenet' : 'none';
    // one request, one vision pass: classification, a heatmap per caption and the boxes' labels; text_mode is the
    // server's default (auto for the classification; FG-CLIP 2's heatmaps then take its box head, as its model card)
    const body = { image: state.image, labels: caps, templates, truncate: true, heatmaps: 'png' };
    if (state.boxes.length) body.boxes = state.boxes;
    const r = await api('/v1/analyze', body);
    renderProbabilities(r.labels, caps);
    $('probs-hint').textContent = SCORING_HINTS[r.scoring] ?? SCORING_HINTS.softmax;
    renderHeatmaps(caps, r.heatmaps);
    if (state.boxes.length) renderRegions(r.regions);
    setStatus(`Done: most likely "${r.labels[0].label}".`);
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    $('run').disabled = false;
  }
}

// ---- regions --------------------------------------------------------------------------------------------

async function classifyRegions() {
  const caps = captions();
  drawOverlay();
  if (state.boxes.length === 0) return $('regions').replaceChildren();
  if (caps.length === 0) return setStatus('Type captions to classify the boxes against.', true);
  const r = await api('/v1/regions', { image: state.image, boxes: state.boxes, labels: caps, truncate: true });
  renderRegions(r.data);
}

function renderRegions(data) {
  $('regions').replaceChildren(
    ...data.map((d) => {
      const li = document.createElement('li');
      li.className = 'region';
      li.style.setProperty('--box', BOX_COLORS[d.index % BOX_COLORS.length]);
      const head = document.createElement('p');
      head.className = 'region-head';
      head.textContent = `Box ${d.index + 1} [${d.box.map((v) => Math.round(v)).join(', ')}]`;
      const list = document.createElement('ol');
      for (const l of d.labels.slice(0, 5)) {
        const item = document.createElement('li');
        const pct = document.createElement('span');
        pct.className = 'region-pct';
        pct.textContent = `${(l.probability * 100).toFixed(1)}%`;
        const label = document.createElement('span');
        label.className = 'clamp';
        label.textContent = l.label;
        label.title = l.label;
        item.append(pct, label);
        list.append(item);
      }
      li.append(head, list);
      return li;
    }),
  );
}

async function addBox(box) {
  state.boxes.push(box);
  try {
    setStatus(`Classifying ${state.boxes.length} box(es)…`);
    await classifyRegions();
    setStatus(`Classified ${state.boxes.length} box(es).`);
  } catch (e) {
    state.boxes.pop();
    drawOverlay();
    setStatus(e.message, true);
  }
}

function syncOverlay() {
  const img = $('preview');
  const c = $('overlay');
  const dpr = window.devicePixelRatio || 1;
  c.width = Math.round(img.clientWidth * dpr);
  c.height = Math.round(img.clientHeight * dpr);
  c.style.width = `${img.clientWidth}px`;
  c.style.height = `${img.clientHeight}px`;
  drawOverlay();
}

function drawOverlay() {
  const c = $('overlay');
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  if (!state.width) return;
  const sx = c.width / state.width;
  const sy = c.height / state.height;
  const draw = ([x1, y1, x2, y2], color, label) => {
    ctx.lineWidth = 3 * (window.devicePixelRatio || 1);
    ctx.strokeStyle = color;
    ctx.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
    if (label) {
      ctx.font = `bold ${14 * (window.devicePixelRatio || 1)}px system-ui, sans-serif`;
      const w = ctx.measureText(label).width + 8;
      ctx.fillStyle = color;
      ctx.fillRect(x1 * sx, y1 * sy, w, 20 * (window.devicePixelRatio || 1));
      ctx.fillStyle = '#fff';
      ctx.fillText(label, x1 * sx + 4, y1 * sy + 15 * (window.devicePixelRatio || 1));
    }
  };
  state.boxes.forEach((b, i) => draw(b, BOX_COLORS[i % BOX_COLORS.length], String(i + 1)));
  if (state.drag) {
    const { x0, y0, x1, y1 } = state.drag;
    draw([Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)], '#ffffff', '');
  }
}

/** pointer position → image pixels (clamped to the image) */
function toImage(e) {
  const r = $('overlay').getBoundingClientRect();
  const x = Math.min(Math.max(e.clientX - r.left, 0), r.width);
  const y = Math.min(Math.max(e.clientY - r.top, 0), r.height);
  return [(x / r.width) * state.width, (y / r.height) * state.height];
}

function setupDrawing() {
  const c = $('overlay');
  c.addEventListener('pointerdown', (e) => {
    if (!state.image || e.button !== 0) return;
    const [x, y] = toImage(e);
    state.drag = { x0: x, y0: y, x1: x, y1: y };
    c.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  c.addEventListener('pointermove', (e) => {
    if (!state.drag) return;
    [state.drag.x1, state.drag.y1] = toImage(e);
    drawOverlay();
  });
  const finish = (e) => {
    if (!state.drag) return;
    [state.drag.x1, state.drag.y1] = toImage(e);
    const { x0, y0, x1, y1 } = state.drag;
    state.drag = null;
    const scale = c.getBoundingClientRect().width / state.width;
    if (Math.abs(x1 - x0) * scale < MIN_BOX_PX || Math.abs(y1 - y0) * scale < MIN_BOX_PX) return drawOverlay();
    const box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)].map((v) => Math.round(v));
    void addBox(box);
  };
  c.addEventListener('pointerup', finish);
  c.addEventListener('pointercancel', () => {
    state.drag = null;
    drawOverlay();
  });
}

// ---- collection gallery ---------------------------------------------------------------------------------

const THUMB_PX = 240;

/** Draws a result's box (original-image pixels) over its thumbnail. */
function drawResultBox(canvas, img, box, width) {
  const w = img.clientWidth;
  const h = img.clientHeight;
  canvas.width = w;
  canvas.height = h;
  const k = w / width;
  const ctx = canvas.getContext('2d');
  ctx.lineWidth = 3;
  ctx.strokeStyle = BOX_COLORS[0];
  ctx.strokeRect(box[0] * k, box[1] * k, (box[2] - box[0]) * k, (box[3] - box[1]) * k);
}

async function searchGallery() {
  const text = $('gallery-query').value.trim();
  if (!text) return setGalleryStatus('Type a caption first.', true);
  const regions = $('gallery-regions').checked;
  const top = Math.min(100, Math.max(1, Number($('gallery-top').value) || 12));
  setGalleryStatus('Searching…');
  try {
    const r = await api('/v1/collection/search', { text, regions, top_k: top, thumbnails: THUMB_PX });
    const list = $('gallery');
    list.replaceChildren();
    for (const [i, hit] of r.results.entries()) {
      const li = document.createElement('li');
      li.className = 'hit';
      li.dataset.score = String(hit.score);
      if (hit.box) li.dataset.box = hit.box.map((v) => Math.round(v)).join(',');
      const fig = document.createElement('figure');
      const frame = document.createElement('div');
      frame.className = 'thumb';
      const img = document.createElement('img');
      img.alt = `Result ${i + 1}: ${hit.path}`;
      if (hit.thumbnail) img.src = hit.thumbnail;
      frame.append(img);
      if (hit.box) {
        const c = document.createElement('canvas');
        c.className = 'overlay';
        c.setAttribute('aria-hidden', 'true');
        frame.append(c);
        // drawn once the thumbnail has its displayed size, and again whenever that size changes
        new ResizeObserver(() => img.clientWidth && drawResultBox(c, img, hit.box, hit.width)).observe(img);
      }
      const cap = document.createElement('figcaption');
      const score = document.createElement('strong');
      score.className = 'hit-score';
      score.textContent = hit.score.toFixed(4);
      const path = document.createElement('span');
      path.className = 'hit-path clamp';
      path.title = hit.path;
      path.textContent = hit.path;
      cap.append(score, ' cosine ', path);
      if (hit.box) cap.append(` box [${hit.box.map((v) => Math.round(v)).join(', ')}]`);
      fig.append(frame, cap);
      li.append(fig);
      list.append(li);
    }
    setGalleryStatus(
      r.results.length ? `${r.results.length} image(s), best first${regions ? ', each with its best region' : ''}.` : 'No images in the collection match.',
    );
  } catch (e) {
    setGalleryStatus(e.message, true);
  }
}

function setGalleryStatus(text, isError = false) {
  const s = $('gallery-status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

function setupGallery() {
  $('gallery-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void searchGallery();
  });
  const show = () =>
    api('/v1/collection')
      .then((c) => {
        $('gallery-section').hidden = false;
        $('gallery-info').textContent =
          `${c.images} image(s) in the collection (${c.region_scheme} regions${c.indexed.images ? ', ANN index' : ', exact search'}). Scores are cosine similarities; with “where” each image shows its best-matching region.`;
      })
      .catch(() => ($('gallery-section').hidden = true));
  $('api-key').addEventListener('change', show);
  void show();
}

// ---- wiring ---------------------------------------------------------------------------------------------

function setup() {
  $('file').addEventListener('change', (e) => void useFile(e.target.files[0]));
  const drop = $('drop');
  for (const ev of ['dragenter', 'dragover']) {
    drop.addEventListener(ev, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    void useFile(e.dataTransfer.files[0]);
  });
  $('key-form').addEventListener('submit', (e) => e.preventDefault());
  $('inputs').addEventListener('submit', (e) => {
    e.preventDefault();
    void analyse();
  });
  $('box-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (!state.image) return setStatus('Choose an image first.', true);
    const f = new FormData(e.target);
    const v = ['x1', 'y1', 'x2', 'y2'].map((k) => Number(f.get(k)));
    if (v.some((x) => !Number.isFinite(x)) || f.get('x1') === '' || v[2] <= v[0] || v[3] <= v[1]) {
      return setStatus('A box needs x1 < x2 and y1 < y2, in image pixels.', true);
    }
    void addBox(v);
  });
  $('clear-boxes').addEventListener('click', () => {
    state.boxes = [];
    drawOverlay();
    $('regions').replaceChildren();
  });
  setupDrawing();
  new ResizeObserver(() => state.width && syncOverlay()).observe($('preview'));
  const showModel = () =>
    api('/v1/models')
      .then((r) => ($('model-name').textContent = `${r.data[0].id} (${r.data[0].dimensions} dims, ${r.data[0].image_size} px)`))
      .catch(() => ($('model-name').textContent = 'unavailable (API key needed?)'));
  $('api-key').addEventListener('change', showModel);
  void showModel();
  setupGallery();
}

setup();
