/** Hub client failure paths against the mock Hub: resume, corruption, HTTP errors, retries, aborts. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, rmSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { goldenPath } from '../test-util/goldens.js';
import { downloadFile, HubHttpError, resolveModelDir, type HubOptions } from './index.js';
import { startMockHub, type MockHub } from './mock-hub.js';

const TINY = goldenPath('fgclip-tiny');
const REPO = 'test-org/fgclip-tiny';
const WEIGHTS = readFileSync(join(TINY, 'model.safetensors'));
const SHA = createHash('sha256').update(WEIGHTS).digest('hex');
const CONFIG = readFileSync(join(TINY, 'config.json'));

const tmpDirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'fgclip-hub-'));
  tmpDirs.push(d);
  return d;
};
const optsFor = (hub: MockHub, cacheDir: string, extra: HubOptions = {}): HubOptions => ({ endpoint: hub.url, cacheDir, env: {}, retryDelayMs: 1, ...extra });
const blobsDir = (cacheDir: string): string => join(cacheDir, `models--${REPO.split('/').join('--')}`, 'blobs');
const isCode = (code: string, re?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof FgClipError, `expected FgClipError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};
const cdnGets = (hub: MockHub, from: number) => hub.requests.slice(from).filter((r) => r.server === 'cdn' && r.method === 'GET');

let hub: MockHub;
before(async () => {
  hub = await startMockHub({
    repos: [
      { id: REPO, dir: TINY },
      { id: 'test-org/private', dir: TINY, token: 'hf_secret' },
    ],
  });
});
after(async () => {
  await hub.close();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe('interrupted downloads resume with HTTP Range', () => {
  test('connection cut mid-file once: the retry asks only for the remaining bytes (Range: bytes=N-), sha256 verified', async () => {
    const cache = tmp();
    const cut = 1_000_000;
    hub.faults.push({ kind: 'cut', file: 'model.safetensors', afterBytes: cut });
    const from = hub.requests.length;
    const written: number[] = [];
    const p = await downloadFile(REPO, 'model.safetensors', { ...optsFor(hub, cache), onProgress: (e) => written.push(e.received) });
    assert.deepEqual(readFileSync(p), WEIGHTS);
    const g = cdnGets(hub, from);
    assert.equal(g.length, 2);
    assert.equal(g[0].headers.range, undefined);
    // The server sends `cut` bytes then resets the socket; the client may see the reset before the last few kilobytes
    // it had in flight, so it resumes from exactly the bytes it wrote (reported by progress), never from 0.
    const m = /^bytes=(\d+)-$/.exec(String(g[1].headers.range));
    assert.ok(m, `range header ${g[1].headers.range}`);
    const resumeAt = Number(m[1]);
    assert.ok(resumeAt > 0 && resumeAt <= cut, `resumed at ${resumeAt}, cut at ${cut}`);
    assert.ok(written.includes(resumeAt), `resume offset ${resumeAt} is not a byte count the client had written`);
    assert.deepEqual(readdirSync(blobsDir(cache)), [SHA], 'no temp file left');
  });

  test("huggingface_hub's blobs/<etag>.incomplete is resumed from its size and removed once the blob is complete", async () => {
    const cache = tmp();
    mkdirSync(blobsDir(cache), { recursive: true });
    const partial = join(blobsDir(cache), `${SHA}.incomplete`);
    writeFileSync(partial, WEIGHTS.subarray(0, 123_456));
    const from = hub.requests.length;
    const p = await downloadFile(REPO, 'model.safetensors', optsFor(hub, cache));
    assert.deepEqual(readFileSync(p), WEIGHTS);
    assert.deepEqual(
      cdnGets(hub, from).map((r) => r.headers.range),
      ['bytes=123456-'],
    );
    assert.equal(existsSync(partial), false);
  });

  test('our own partial left by a dead process is claimed and resumed', async () => {
    const cache = tmp();
    mkdirSync(blobsDir(cache), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const host = hostname().replace(/[^A-Za-z0-9-]/g, '') || 'host';
    writeFileSync(join(blobsDir(cache), `${SHA}.${host}.${dead}.0badc0de.incomplete`), WEIGHTS.subarray(0, 500_000));
    const from = hub.requests.length;
    const p = await downloadFile(REPO, 'model.safetensors', optsFor(hub, cache));
    assert.deepEqual(readFileSync(p), WEIGHTS);
    assert.deepEqual(
      cdnGets(hub, from).map((r) => r.headers.range),
      ['bytes=500000-'],
    );
    assert.deepEqual(readdirSync(blobsDir(cache)), [SHA]);
  });

  test('a server that ignores Range (200 instead of 206) restarts the file from byte 0, result still exact', async () => {
    const cache = tmp();
    mkdirSync(blobsDir(cache), { recursive: true });
    const partial = join(blobsDir(cache), `${SHA}.incomplete`);
    writeFileSync(partial, Buffer.alloc(400_000, 0xab)); // wrong bytes: must be discarded, not kept
    utimesSync(partial, new Date(0), new Date(0));
    hub.faults.push({ kind: 'ignore-range', file: 'model.safetensors' });
    const p = await downloadFile(REPO, 'model.safetensors', optsFor(hub, cache));
    assert.deepEqual(readFileSync(p), WEIGHTS);
  });

  test('a partial longer than the file is discarded (no Range request past the end)', async () => {
    const cache = tmp();
    mkdirSync(blobsDir(cache), { recursive: true });
    writeFileSync(join(blobsDir(cache), `${SHA}.incomplete`), Buffer.concat([WEIGHTS, Buffer.alloc(10)]));
    const from = hub.requests.length;
    const p = await downloadFile(REPO, 'model.safetensors', optsFor(hub, cache));
    assert.deepEqual(readFileSync(p), WEIGHTS);
    assert.deepEqual(
      cdnGets(hub, from).map((r) => r.headers.range),
      [undefined],
    );
  });
});

describe('verification', () => {
  test('body with one flipped byte → DOWNLOAD_CORRUPT (sha256 ≠ LFS etag), nothing left in blobs/ or snapshots/', async () => {
    const cache = tmp();
    hub.faults.push({ kind: 'corrupt', file: 'model.safetensors' });
    await assert.rejects(downloadFile(REPO, 'model.safetensors', optsFor(hub, cache)), isCode('DOWNLOAD_CORRUPT', new RegExp(`expected sha256 ${SHA}`)));
    assert.deepEqual(readdirSync(blobsDir(cache)), []);
    assert.equal(existsSync(join(cache, `models--${REPO.split('/').join('--')}`, 'snapshots', hub.commitOf(REPO), 'model.safetensors')), false);
    const p = await downloadFile(REPO, 'model.safetensors', optsFor(hub, cache));
    assert.deepEqual(readFileSync(p), WEIGHTS, 'the next attempt downloads afresh');
  });

  test('a bad partial left by someone else → DOWNLOAD_CORRUPT, the partial is deleted, and the next attempt succeeds', async () => {
    const cache = tmp();
    mkdirSync(blobsDir(cache), { recursive: true });
    const partial = join(blobsDir(cache), `${SHA}.incomplete`);
    writeFileSync(partial, Buffer.alloc(200_000, 0x5a));
    await assert.rejects(downloadFile(REPO, 'model.safetensors', optsFor(hub, cache)), isCode('DOWNLOAD_CORRUPT'));
    assert.deepEqual(readdirSync(blobsDir(cache)), []);
    const p = await downloadFile(REPO, 'model.safetensors', optsFor(hub, cache));
    assert.deepEqual(readFileSync(p), WEIGHTS);
  });

  test('a git file one byte short of its announced size → DOWNLOAD_CORRUPT naming expected and received sizes', async () => {
    const cache = tmp();
    hub.faults.push({ kind: 'short', file: 'config.json' });
    await assert.rejects(
      downloadFile(REPO, 'config.json', optsFor(hub, cache)),
      isCode('DOWNLOAD_CORRUPT', new RegExp(`expected ${CONFIG.length} bytes, got ${CONFIG.length - 1}`)),
    );
    assert.deepEqual(readdirSync(blobsDir(cache)), []);
  });
});

describe('HTTP errors map to FgClipError codes with hints', () => {
  test('unknown repo → MODEL_NOT_FOUND (cause: HubHttpError 404 RepoNotFound) with a hint to check the id or pass a folder', async () => {
    await assert.rejects(resolveModelDir('nobody/nothing', optsFor(hub, tmp())), (e: unknown) => {
      isCode('MODEL_NOT_FOUND', /check the repo id.*local model folder/i)(e);
      const cause = (e as FgClipError).cause;
      assert.ok(cause instanceof HubHttpError && cause.status === 404 && cause.errorCode === 'RepoNotFound');
      return true;
    });
  });

  test('unknown revision → MODEL_NOT_FOUND naming the revision; unknown file → MODEL_NOT_FOUND', async () => {
    await assert.rejects(
      downloadFile(REPO, 'config.json', optsFor(hub, tmp(), { revision: 'no-such-branch' })),
      isCode('MODEL_NOT_FOUND', /revision "no-such-branch" not found/),
    );
    await assert.rejects(downloadFile(REPO, 'nope.json', optsFor(hub, tmp())), isCode('MODEL_NOT_FOUND', /file not found/));
  });

  test('private repo without a token, or with a wrong one → HUB_AUTH with a hint about HF_TOKEN', async () => {
    await assert.rejects(downloadFile('test-org/private', 'config.json', optsFor(hub, tmp())), isCode('HUB_AUTH', /no token was sent.*HF_TOKEN/));
    await assert.rejects(
      downloadFile('test-org/private', 'config.json', optsFor(hub, tmp(), { token: 'wrong' })),
      isCode('HUB_AUTH', /a token was sent.*HF_TOKEN/),
    );
  });

  test('a 403 from the CDN is HUB_AUTH too', async () => {
    hub.faults.push({ kind: 'status', status: 403, server: 'cdn', file: 'model.safetensors' });
    await assert.rejects(downloadFile(REPO, 'model.safetensors', optsFor(hub, tmp())), isCode('HUB_AUTH'));
  });

  test('the endpoint is not a Hub (no X-Repo-Commit) → HUB_ERROR pointing at HF_ENDPOINT', async () => {
    const { createServer } = await import('node:http');
    const srv = createServer((_req, res) => res.writeHead(200, { etag: '"x"' }).end('hello'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const { port } = srv.address() as { port: number };
    try {
      await assert.rejects(
        downloadFile(REPO, 'config.json', { endpoint: `http://127.0.0.1:${port}`, cacheDir: tmp(), env: {} }),
        isCode('HUB_ERROR', /HF_ENDPOINT/),
      );
    } finally {
      srv.close();
    }
  });
});

describe('cache write failures', () => {
  test('a cache dir that cannot be written (here: a file) → HUB_ERROR naming the folder and HF_HUB_CACHE, not a raw ENOTDIR', async () => {
    const notADir = join(tmp(), 'file');
    writeFileSync(notADir, 'x');
    await assert.rejects(downloadFile(REPO, 'config.json', optsFor(hub, notADir)), isCode('HUB_ERROR', /cannot write the cache at .*HF_HUB_CACHE/));
  });
});

describe('retries are bounded, with back-off', () => {
  test('two 503s then success: the download succeeds after 3 HEAD attempts', async () => {
    hub.faults.push({ kind: 'status', status: 503, method: 'HEAD', file: 'config.json', times: 2 });
    const from = hub.requests.length;
    const p = await downloadFile(REPO, 'config.json', optsFor(hub, tmp()));
    assert.deepEqual(readFileSync(p), CONFIG);
    assert.equal(hub.requests.slice(from).filter((r) => r.method === 'HEAD').length, 3);
  });

  test('a reset connection on the CDN GET is retried', async () => {
    hub.faults.push({ kind: 'reset', server: 'cdn', method: 'GET' });
    const p = await downloadFile(REPO, 'model.safetensors', optsFor(hub, tmp()));
    assert.deepEqual(readFileSync(p), WEIGHTS);
  });

  test('a Hub that keeps failing → HUB_ERROR after exactly retries+1 attempts, with the cause', async () => {
    const fault = { kind: 'status' as const, status: 500, method: 'HEAD' as const, file: 'config.json', times: Infinity };
    hub.faults.push(fault);
    const from = hub.requests.length;
    try {
      await assert.rejects(downloadFile(REPO, 'config.json', optsFor(hub, tmp(), { retries: 2 })), (e: unknown) => {
        isCode('HUB_ERROR', /after 3 attempts \(last error: HTTP 500/)(e);
        assert.ok((e as FgClipError).cause !== undefined);
        return true;
      });
      assert.equal(hub.requests.length - from, 3);
    } finally {
      hub.faults.splice(hub.faults.indexOf(fault), 1);
    }
  });

  test('nothing listening at the endpoint → HUB_ERROR after the retries', async () => {
    const dead = await startMockHub({ repos: [] });
    const url = dead.url;
    await dead.close();
    await assert.rejects(
      downloadFile(REPO, 'config.json', { endpoint: url, cacheDir: tmp(), env: {}, retries: 1, retryDelayMs: 1 }),
      isCode('HUB_ERROR', /no answer from the Hub after 2 attempts \(last error: network error for HEAD .*ECONNREFUSED/),
    );
  });

  test('Hub unreachable but the model cached: the cached snapshot is used (as huggingface_hub does), cache-only afterwards', async () => {
    const cache = tmp();
    const dir = await resolveModelDir(REPO, optsFor(hub, cache));
    const dead = await startMockHub({ repos: [] });
    const url = dead.url;
    await dead.close();
    assert.equal(await resolveModelDir(REPO, { endpoint: url, cacheDir: cache, env: {}, retries: 1, retryDelayMs: 1 }), dir);
    await assert.rejects(resolveModelDir('test-org/other', { endpoint: url, cacheDir: cache, env: {}, retries: 0 }), isCode('HUB_ERROR'));
  });

  test('an aborted download → HUB_ERROR "aborted", and the partial stays for a later resume', async () => {
    const cache = tmp();
    const ac = new AbortController();
    let aborted = false;
    const onProgress = (p: { received: number }): void => {
      if (!aborted && p.received > 0) {
        aborted = true;
        ac.abort();
      }
    };
    hub.faults.push({ kind: 'cut', file: 'model.safetensors', afterBytes: 300_000 }); // guarantees a first partial chunk
    await assert.rejects(downloadFile(REPO, 'model.safetensors', optsFor(hub, cache, { signal: ac.signal, onProgress })), isCode('HUB_ERROR', /aborted/));
    const left = readdirSync(blobsDir(cache));
    assert.equal(left.length, 1);
    assert.match(left[0], /\.incomplete$/);
    const from = hub.requests.length;
    const p = await downloadFile(REPO, 'model.safetensors', optsFor(hub, cache));
    assert.deepEqual(readFileSync(p), WEIGHTS);
    assert.match(String(cdnGets(hub, from)[0].headers.range), /^bytes=[1-9]\d*-$/, 'resumed, not restarted');
  });
});
