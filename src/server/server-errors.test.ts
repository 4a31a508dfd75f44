/**
 * Error paths over real HTTP on loopback (fgclip-tiny): every rejection has the OpenAI error shape
 * {error: {message, type, param, code}}, the documented status, and no stack trace or server path in it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer as createHttpServer, type Server } from 'node:http';
import { mkdtempSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { goldenPath } from '../test-util/goldens.js';
import { apiKeysFrom } from './auth.js';
import { catBytes, catDataUri, get, post, start, tinyModel, type Answer, type Running } from './test-helpers.js';

function assertError(a: Answer, status: number, code: string, param?: string | null): void {
  assert.equal(a.status, status, JSON.stringify(a.json));
  assert.deepEqual(Object.keys(a.json).sort(), ['error']);
  assert.deepEqual(Object.keys(a.json.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(a.json.error.code, code);
  assert.equal(typeof a.json.error.message, 'string');
  assert.doesNotMatch(a.json.error.message, /\n\s+at |node_modules|\.ts:\d+/, 'no stack trace or source location');
  if (param !== undefined) assert.equal(a.json.error.param, param);
}

describe('request validation', () => {
  let r: Running;
  before(async () => {
    r = await start({ maxInputs: 3, maxImages: 2, maxBodyBytes: 1024 * 1024 });
  });
  after(() => r.server.close());
  const emb = () => `${r.url}/v1/embeddings`;

  test('malformed JSON → 400 INVALID_JSON; a JSON array body → 400', async () => {
    assertError(await post(emb(), '{"input": "a cat",'), 400, 'INVALID_JSON');
    assertError(await post(emb(), '["a cat"]'), 400, 'INVALID_JSON');
  });

  test('body over maxBodyBytes → 413 BODY_TOO_LARGE, with Content-Length and with a chunked body', async () => {
    const big = JSON.stringify({ input: 'x'.repeat(2 * 1024 * 1024) });
    assertError(await post(emb(), big), 413, 'BODY_TOO_LARGE');
    // chunked (no Content-Length): the limit is enforced on the bytes received
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(emb(), { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 16) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    }).catch((e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? 413 : Promise.reject(e)));
    assert.equal(status, 413);
    assert.equal((await get(`${r.url}/health`)).status, 200, 'server alive afterwards');
  });

  test('wrong types name the field: input number, encoding_format "hex", truncate "yes", boxes of three numbers', async () => {
    assertError(await post(emb(), { input: 5 }), 400, 'INPUT_INVALID', 'input[0]');
    assertError(await post(emb(), { input: 'a', encoding_format: 'hex' }), 400, 'INPUT_INVALID', 'encoding_format');
    assertError(await post(emb(), { input: 'a', truncate: 'yes' }), 400, 'INPUT_INVALID', 'truncate');
    assertError(await post(emb(), { input: ['a', null] }), 400, 'INPUT_INVALID', 'input[1]');
    assertError(await post(`${r.url}/v1/regions`, { image: catDataUri(), boxes: [[1, 2, 3]] }), 400, 'INPUT_INVALID', 'boxes[0]');
    assertError(await post(`${r.url}/v1/heatmap`, { image: [catDataUri()], texts: 'a' }), 400, 'INPUT_INVALID', 'image');
    assertError(await post(`${r.url}/v1/classify`, { images: catDataUri(), labels: ['a'], top_k: 0 }), 400, 'INPUT_INVALID', 'top_k');
  });

  test('unknown fields → 400 UNKNOWN_FIELDS listing every one of them', async () => {
    const a = await post(emb(), { input: 'a', foo: 1, barBaz: true });
    assertError(a, 400, 'UNKNOWN_FIELDS');
    assert.match(a.json.error.message, /"foo"/);
    assert.match(a.json.error.message, /"barBaz"/);
    assertError(await post(`${r.url}/v1/classify`, { images: catDataUri(), labels: ['a'], template: 'none' }), 400, 'UNKNOWN_FIELDS', 'template');
    assertError(await post(emb(), { input: 'a', __proto__x: 1, constructor: 1 }), 400, 'UNKNOWN_FIELDS');
    assertError(await post(emb(), '{"input": "a", "__proto__": {"polluted": true}}'), 400, 'UNKNOWN_FIELDS', '__proto__');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('dimensions is rejected (400 UNSUPPORTED_FIELD), not ignored', async () => {
    assertError(await post(emb(), { input: 'a cat', dimensions: 8 }), 400, 'UNSUPPORTED_FIELD', 'dimensions');
  });

  test('empty inputs, empty strings and a model that is not served', async () => {
    assertError(await post(emb(), { input: [] }), 400, 'INPUT_INVALID', 'input');
    assertError(await post(emb(), { input: '' }), 400, 'INPUT_INVALID', 'input[0]');
    assertError(await post(emb(), {}), 400, 'INPUT_INVALID', 'input');
    assertError(await post(emb(), { input: 'a', model: 'text-embedding-3-small' }), 404, 'MODEL_NOT_FOUND', 'model');
  });

  test('bad base64 → 400 INPUT_INVALID; non-image bytes → 400 IMAGE_DECODE naming the input', async () => {
    assertError(await post(emb(), { input: 'this is not base64!', modality: 'image' }), 400, 'INPUT_INVALID', 'input[0]');
    assertError(await post(emb(), { input: 'data:image/png;base64,@@@@', modality: 'image' }), 400, 'INPUT_INVALID', 'input[0]');
    assertError(await post(emb(), { input: 'data:text/plain;base64,aGVsbG8=', modality: 'image' }), 400, 'INPUT_INVALID', 'input[0]');
    const notImage = Buffer.from('hello, these bytes are not an image at all').toString('base64');
    const a = await post(emb(), { input: ['', notImage].slice(1), modality: 'image' });
    assertError(a, 400, 'IMAGE_DECODE', 'input[0]');
    assert.match(a.json.error.message, /^input\[0\]: /);
    const truncated = catBytes().subarray(0, 2000).toString('base64');
    assertError(await post(`${r.url}/v1/classify`, { images: [catDataUri(), truncated], labels: ['a'] }), 400, 'IMAGE_DECODE', 'images[1]');
  });

  test('too many inputs → 400 TOO_MANY_INPUTS (texts over maxInputs, images over maxImages, prompts over the template budget)', async () => {
    assertError(await post(emb(), { input: ['a', 'b', 'c', 'd'] }), 400, 'TOO_MANY_INPUTS', 'input');
    const img = catDataUri();
    assertError(await post(emb(), { input: [img, img, img], modality: 'image' }), 400, 'TOO_MANY_INPUTS', 'input');
    assertError(
      await post(`${r.url}/v1/regions`, {
        image: img,
        boxes: [
          [0, 0, 1, 1],
          [0, 0, 1, 1],
          [0, 0, 1, 1],
          [0, 0, 1, 1],
        ],
      }),
      400,
      'TOO_MANY_INPUTS',
      'boxes',
    );
    assertError(await post(`${r.url}/v1/classify`, { images: img, labels: ['a', 'b', 'c'], templates: 'imagenet' }), 400, 'TOO_MANY_INPUTS', 'labels');
  });

  test('texts over the token limit → 400 unless truncate is set', async () => {
    const long = 'word '.repeat(300);
    const a = await post(emb(), { input: long });
    assertError(a, 400, 'INPUT_INVALID', 'input[0]');
    assert.match(a.json.error.message, /302 tokens, over the 248-token limit/);
    assertError(await post(emb(), { input: 'word '.repeat(100), text_mode: 'short' }), 400, 'INPUT_INVALID');
    assert.equal((await post(emb(), { input: long, truncate: true })).status, 200);
  });

  test('invalid boxes → 400 BOX_INVALID; duplicate labels → 400', async () => {
    assertError(await post(`${r.url}/v1/regions`, { image: catDataUri(), boxes: [[700, 500, 800, 600]] }), 400, 'BOX_INVALID');
    assertError(await post(`${r.url}/v1/regions`, { image: catDataUri(), boxes: [[50, 50, 10, 10]] }), 400, 'BOX_INVALID');
    assertError(await post(`${r.url}/v1/classify`, { images: catDataUri(), labels: ['a cat', 'a cat'] }), 400, 'INPUT_INVALID', 'labels[1]');
  });

  test('unknown route → 404, wrong method → 405 with Allow, unsupported Content-Type → 415', async () => {
    assertError(await get(`${r.url}/v1/nothing`), 404, 'NOT_FOUND');
    const m = await get(emb());
    assertError(m, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(m.headers.get('allow'), 'POST');
    assertError(await post(emb(), 'input=a', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('multipart: malformed bodies → 400, text parts carry JSON or plain strings', async () => {
    const bad = await post(emb(), '--xyz\r\nContent-Disposition: form-data; name="input"\r\n\r\nabc', { 'content-type': 'multipart/form-data; boundary=xyz' });
    assertError(bad, 400, 'INVALID_JSON');
    const form = new FormData();
    form.append('input', 'a photo of a cat');
    form.append('encoding_format', 'base64');
    const ok = await fetch(emb(), { method: 'POST', body: form });
    assert.equal(ok.status, 200);
    const two = new FormData();
    two.append('input', 'first');
    two.append('input', '"second"');
    const j = (await (await fetch(emb(), { method: 'POST', body: two })).json()) as { data: unknown[] };
    assert.equal(j.data.length, 2);
  });
});

describe('internal errors', () => {
  test('an unexpected exception → 500 INTERNAL with a generic message; the detail goes to the log only', async () => {
    const model = await tinyModel();
    const broken = Object.create(model, { runText: { value: async () => Promise.reject(new TypeError('secret detail at /srv/internal/file.ts:12')) } });
    const r = await start({ model: broken });
    try {
      const a = await post(`${r.url}/v1/embeddings`, { input: 'a cat' });
      assertError(a, 500, 'INTERNAL', null);
      assert.doesNotMatch(JSON.stringify(a.json), /secret|internal\/file/);
      assert.ok(
        r.logs.some((l) => l.includes('secret detail')),
        'logged',
      );
    } finally {
      await r.server.close();
    }
  });
});

describe('API keys', () => {
  let r: Running;
  before(async () => {
    r = await start({ apiKeys: ['key-one', 'key-two'] });
  });
  after(() => r.server.close());

  test('required: no key or a wrong key → 401 with WWW-Authenticate; each configured key is accepted', async () => {
    const none = await post(`${r.url}/v1/embeddings`, { input: 'a' });
    assertError(none, 401, 'UNAUTHORIZED');
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assertError(await post(`${r.url}/v1/embeddings`, { input: 'a' }, { authorization: 'Bearer key-three' }), 401, 'UNAUTHORIZED');
    assertError(await post(`${r.url}/v1/embeddings`, { input: 'a' }, { authorization: 'Bearer key-on' }), 401, 'UNAUTHORIZED');
    assertError(await post(`${r.url}/v1/embeddings`, { input: 'a' }, { authorization: 'key-one' }), 401, 'UNAUTHORIZED');
    assert.equal((await post(`${r.url}/v1/embeddings`, { input: 'a' }, { authorization: 'Bearer key-one' })).status, 200);
    assert.equal((await post(`${r.url}/v1/embeddings`, { input: 'a' }, { authorization: 'bearer key-two' })).status, 200);
  });

  test('/health and the web page stay open; /v1/models and /metrics need the key', async () => {
    assert.equal((await get(`${r.url}/health`)).status, 200);
    assert.equal((await get(`${r.url}/`)).status, 200);
    assertError(await get(`${r.url}/v1/models`), 401, 'UNAUTHORIZED');
    assertError(await get(`${r.url}/metrics`), 401, 'UNAUTHORIZED');
    assert.equal((await get(`${r.url}/metrics`, { authorization: 'Bearer key-two' })).status, 200);
  });

  test('apiKeysFrom merges --api-key options with FGCLIP_API_KEYS (comma-separated, blanks dropped)', () => {
    assert.deepEqual(apiKeysFrom(['a'], ' b, ,c '), ['a', 'b', 'c']);
    assert.deepEqual(apiKeysFrom([], undefined), []);
  });
});

describe('image sources', () => {
  let root: string;
  let files: Server;
  let filesUrl: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'fgclip-root-'));
    writeFileSync(join(root, 'cat.jpg'), catBytes());
    symlinkSync(goldenPath('images', 'gray_50x50.png'), join(root, 'escape.png'));
    // a loopback file server standing in for "a remote host": no traffic leaves the machine
    files = createHttpServer((req, res) => {
      if (req.url === '/cat.jpg') res.writeHead(200, { 'content-type': 'image/jpeg' }).end(catBytes());
      else if (req.url === '/moved') res.writeHead(302, { location: '/cat.jpg' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((ok) => files.listen(0, '127.0.0.1', ok));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((ok) => files.close(ok));
    rmSync(root, { recursive: true, force: true });
  });

  test('file paths are refused unless --image-root is set', async () => {
    const r = await start();
    try {
      assertError(await post(`${r.url}/v1/embeddings`, { input: 'file:cat.jpg', modality: 'image' }), 400, 'IMAGE_SOURCE_FORBIDDEN', 'input[0]');
    } finally {
      await r.server.close();
    }
  });

  test('with an image root: inside → 200; "..", absolute paths and symlinks out of the root → 400 IMAGE_SOURCE_FORBIDDEN', async () => {
    const r = await start({ imageRoot: root });
    try {
      const ok = await post(`${r.url}/v1/embeddings`, { input: ['file:cat.jpg', 'file:./sub/../cat.jpg'], modality: 'image' });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      for (const p of ['file:../etc/passwd', 'file:/etc/passwd', 'file:escape.png', `file://${goldenPath('images', 'cat_dfclor.jpg')}`]) {
        const a = await post(`${r.url}/v1/embeddings`, { input: p, modality: 'image' });
        assertError(a, 400, 'IMAGE_SOURCE_FORBIDDEN', 'input[0]');
        assert.ok(!a.json.error.message.includes(root), 'the root folder is not revealed');
      }
      assertError(await post(`${r.url}/v1/embeddings`, { input: 'file:missing.jpg', modality: 'image' }), 400, 'INPUT_INVALID', 'input[0]');
      assertError(await post(`${r.url}/v1/embeddings`, { input: 'file:.', modality: 'image' }), 400, 'INPUT_INVALID', 'input[0]');
    } finally {
      await r.server.close();
    }
  });

  test('remote URLs are refused unless --allow-remote-images; unknown schemes are refused', async () => {
    const r = await start();
    try {
      assertError(await post(`${r.url}/v1/embeddings`, { input: `${filesUrl}/cat.jpg`, modality: 'image' }), 400, 'IMAGE_SOURCE_FORBIDDEN', 'input[0]');
      assertError(await post(`${r.url}/v1/embeddings`, { input: 'ftp://example.invalid/cat.jpg', modality: 'image' }), 400, 'IMAGE_SOURCE_FORBIDDEN');
    } finally {
      await r.server.close();
    }
  });

  test('remote enabled, private not allowed: loopback by IP, by name (localhost), IPv6 and IPv4-mapped IPv6 → 400, nothing fetched', async () => {
    let hits = 0;
    files.on('request', () => hits++);
    const r = await start({ allowRemoteImages: true });
    try {
      const port = new URL(filesUrl).port;
      for (const u of [
        `${filesUrl}/cat.jpg`,
        `http://localhost:${port}/cat.jpg`,
        `http://[::1]:${port}/cat.jpg`,
        `http://[::ffff:127.0.0.1]:${port}/cat.jpg`,
        `http://169.254.169.254/latest/meta-data`,
      ]) {
        const a = await post(`${r.url}/v1/embeddings`, { input: u, modality: 'image' });
        assertError(a, 400, 'IMAGE_SOURCE_FORBIDDEN', 'input[0]');
        assert.match(a.json.error.message, /private, loopback or link-local/);
      }
      assert.equal(hits, 0);
    } finally {
      await r.server.close();
    }
  });

  test('remote and private allowed: the loopback image is fetched (equal to the upload), 404 and redirects → 400 IMAGE_FETCH, over the size limit → 413', async () => {
    const r = await start({ allowRemoteImages: true, allowPrivateImages: true });
    try {
      const a = await post(`${r.url}/v1/embeddings`, { input: `${filesUrl}/cat.jpg`, modality: 'image' });
      const b = await post(`${r.url}/v1/embeddings`, { input: catDataUri(), modality: 'image' });
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assert.deepEqual(a.json.data[0].embedding, b.json.data[0].embedding);
      assertError(await post(`${r.url}/v1/embeddings`, { input: `${filesUrl}/nope.jpg`, modality: 'image' }), 400, 'IMAGE_FETCH', 'input[0]');
      assertError(await post(`${r.url}/v1/embeddings`, { input: `${filesUrl}/moved`, modality: 'image' }), 400, 'IMAGE_FETCH', 'input[0]');
    } finally {
      await r.server.close();
    }
    const small = await start({ allowRemoteImages: true, allowPrivateImages: true, maxImageBytes: 1000 });
    try {
      assertError(await post(`${small.url}/v1/embeddings`, { input: `${filesUrl}/cat.jpg`, modality: 'image' }), 413, 'IMAGE_TOO_LARGE', 'input[0]');
      assertError(await post(`${small.url}/v1/embeddings`, { input: catDataUri(), modality: 'image' }), 413, 'IMAGE_TOO_LARGE', 'input[0]');
    } finally {
      await small.server.close();
    }
  });
});
