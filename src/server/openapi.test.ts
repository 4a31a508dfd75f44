/**
 * /openapi.json against the implementation (fgclip-tiny, real HTTP): the document's paths and methods are exactly
 * the router's API_ROUTES (no route missing, none invented), and every request example in the document is sent to
 * a server serving a collection and answered 200. CORS: OPTIONS preflights answer 204 with the allowed methods and
 * headers for allowed origins, plain OPTIONS answers with Allow (not 405), responses carry the allowed origin.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openCollectionFor } from '../collection/search.js';
import { API_ROUTES } from './server.js';
import { requestExamples } from './openapi.js';
import { get, post, start, type Running } from './test-helpers.js';

const ROOT = mkdtempSync(join(tmpdir(), 'fgclip-openapi-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

describe('/openapi.json matches the routes', () => {
  let r: Running;
  before(async () => {
    r = await start({
      collection: (encoder) => openCollectionFor(encoder, join(ROOT, 'coll')),
      servedNames: ['qihoo360/fg-clip-base'],
      corsAllowOrigin: ['https://app.example'],
    });
  });
  after(() => r.server.close());

  test('every route in the router is in the document and vice versa (same methods)', async () => {
    const doc = await get(`${r.url}/openapi.json`);
    assert.equal(doc.status, 200);
    assert.equal(doc.json.openapi, '3.1.0');
    const documented = Object.entries(doc.json.paths as Record<string, Record<string, unknown>>)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    const routed = Object.entries(API_ROUTES)
      .map(([p, route]) => `${route.method} ${p}`)
      .sort();
    assert.deepEqual(documented, routed);
  });

  test('every request example of the document is answered 200 by the server', async () => {
    const doc = (await get(`${r.url}/openapi.json`)).json;
    let sent = 0;
    for (const [path, ops] of Object.entries(
      doc.paths as Record<string, { post?: { requestBody: { content: { 'application/json': { examples: Record<string, { value: unknown }> } } } } }>,
    )) {
      if (!ops.post) continue;
      const examples = ops.post.requestBody.content['application/json'].examples;
      assert.ok(Object.keys(examples).length > 0, `${path} has request examples`);
      assert.deepEqual(Object.fromEntries(Object.entries(examples).map(([k, v]) => [k, v.value])), requestExamples(path));
      for (const [name, ex] of Object.entries(examples)) {
        const a = await fetch(`${r.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ex.value) });
        const body = Buffer.from(await a.arrayBuffer());
        assert.equal(a.status, 200, `${path} example ${name}: ${body.toString('utf8', 0, 300)}`);
        if (a.headers.get('content-type')?.startsWith('image/png')) assert.equal(body.subarray(1, 4).toString(), 'PNG');
        else JSON.parse(body.toString('utf8'));
        sent++;
      }
    }
    assert.ok(sent >= Object.keys(doc.paths).length / 2, `${sent} examples sent`);
  });

  test('CORS: a preflight from an allowed origin gets 204 + Access-Control-Allow-*; others get no allow-origin; OPTIONS is never 405', async () => {
    const pre = await fetch(`${r.url}/v1/embeddings`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    const other = await fetch(`${r.url}/v1/embeddings`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(other.status, 204);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const plain = await fetch(`${r.url}/health`, { method: 'OPTIONS' });
    assert.equal(plain.status, 204);
    assert.equal(plain.headers.get('allow'), 'GET, HEAD, OPTIONS');
    const answer = await post(`${r.url}/v1/embeddings`, { input: 'a cat' }, { Origin: 'https://app.example' });
    assert.equal(answer.headers.get('access-control-allow-origin'), 'https://app.example');
    const unknown = await fetch(`${r.url}/v1/nothing`, { method: 'OPTIONS' });
    assert.equal(unknown.status, 404);
  });

  test('served-name alias: the README’s model id is accepted; another name is a 404 that says what is served', async () => {
    const ok = await post(`${r.url}/v1/embeddings`, { input: 'a cat', model: 'qihoo360/fg-clip-base' });
    assert.equal(ok.status, 200);
    const models = await get(`${r.url}/v1/models`);
    assert.deepEqual(
      models.json.data.map((m: { id: string }) => m.id),
      ['fgclip-tiny', 'qihoo360/fg-clip-base'],
    );
    const bad = await post(`${r.url}/v1/embeddings`, { input: 'a cat', model: 'openai/clip' });
    assert.equal(bad.status, 404);
    assert.equal(bad.json.error.code, 'MODEL_NOT_FOUND');
    assert.match(bad.json.error.message, /serves fgclip model "fgclip-tiny", "qihoo360\/fg-clip-base"/);
    assert.match(bad.json.error.message, /--served-name/);
  });
});
