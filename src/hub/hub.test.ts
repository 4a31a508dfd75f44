/**
 * The Hub client against the local mock Hub: cache layout (compatible with Python's huggingface_hub), offline
 * reuse, weight fallbacks, redirects and Authorization, progress. Faults and errors: hub-errors.test.ts.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, rmSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FgClipError } from '../errors.js';
import { goldenPath } from '../test-util/goldens.js';
import { cachedModels, downloadFile, resolveModelDir, snapshotDownload, type HubOptions } from './index.js';
import { startMockHub, type MockHub } from './mock-hub.js';

const TINY = goldenPath('fgclip-tiny');
const TINY_PT = goldenPath('fgclip-tiny-pt');
const TINY_FILES = readdirSync(TINY).sort();
const REPO = 'test-org/fgclip-tiny';

const tmpDirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'fgclip-hub-'));
  tmpDirs.push(d);
  return d;
};
/** env: {} keeps the machine's HF_* variables (a real token, offline mode) out of the tests. */
const optsFor = (hub: MockHub, cacheDir: string, extra: HubOptions = {}): HubOptions => ({ endpoint: hub.url, cacheDir, env: {}, retryDelayMs: 1, ...extra });
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer): string =>
  createHash('sha1')
    .update(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]))
    .digest('hex');
const storage = (cacheDir: string, repo: string): string => join(cacheDir, `models--${repo.split('/').join('--')}`);
const gets = (hub: MockHub, from = 0): number => hub.requests.slice(from).filter((r) => r.method === 'GET').length;
const isCode = (code: string) => (e: unknown) => e instanceof FgClipError && e.code === code;

let hub: MockHub;
before(async () => {
  hub = await startMockHub({
    repos: [
      { id: REPO, dir: TINY },
      { id: 'test-org/fgclip-tiny-pt', dir: TINY_PT },
      { id: 'test-org/private', dir: TINY, token: 'hf_secret', commit: 'c'.repeat(40) },
      {
        id: 'test-org/sharded',
        files: {
          'config.json': readFileSync(join(TINY, 'config.json')),
          'model.safetensors.index.json': JSON.stringify({
            metadata: {},
            weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' },
          }),
          'model-00001-of-00002.safetensors': Buffer.alloc(1000, 1),
          'model-00002-of-00002.safetensors': Buffer.alloc(2000, 2),
        },
      },
      { id: 'single-name', files: { 'config.json': '{}' }, refs: { v1: 'd'.repeat(40) } },
    ],
    renames: { 'old-org/fgclip-tiny': REPO },
  });
});
after(async () => {
  await hub.close();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe('downloadFile: cache layout identical to huggingface_hub', () => {
  test('a git file: blobs/<git sha1>, snapshots/<commit>/<file> → ../../blobs/<etag> relative symlink, refs/main = commit (no newline)', async () => {
    const cache = tmp();
    const p = await downloadFile(REPO, 'config.json', optsFor(hub, cache));
    const commit = hub.commitOf(REPO);
    const want = readFileSync(join(TINY, 'config.json'));
    const st = storage(cache, REPO);
    assert.equal(p, join(st, 'snapshots', commit, 'config.json'));
    assert.ok(lstatSync(p).isSymbolicLink());
    assert.equal(readlinkSync(p), `../../blobs/${gitSha1(want)}`);
    assert.deepEqual(readFileSync(p), want);
    assert.equal(readFileSync(join(st, 'refs', 'main'), 'utf8'), commit);
  });

  test('an LFS file: blobs/<sha256 = X-Linked-Etag>, bytes from the CDN on another origin without Authorization', async () => {
    const cache = tmp();
    const from = hub.requests.length;
    const p = await downloadFile('test-org/private', 'model.safetensors', optsFor(hub, cache, { token: 'hf_secret' }));
    const want = readFileSync(join(TINY, 'model.safetensors'));
    assert.equal(readlinkSync(p), `../../blobs/${sha256(want)}`);
    assert.deepEqual(readFileSync(p), want);
    const reqs = hub.requests.slice(from);
    const toHub = reqs.filter((r) => r.server === 'hub');
    const toCdn = reqs.filter((r) => r.server === 'cdn');
    assert.ok(toHub.length >= 1 && toHub.every((r) => r.headers.authorization === 'Bearer hf_secret'), 'Hub requests carry the token');
    assert.equal(toCdn.length, 1);
    assert.equal(toCdn[0].headers.authorization, undefined, 'the CDN on another origin must not see the token');
  });

  test('a same-origin CDN redirect keeps Authorization (only cross-origin redirects drop it)', async () => {
    const same = await startMockHub({ repos: [{ id: 'o/p', dir: TINY, token: 'tok' }], cdn: 'same-host' });
    try {
      const p = await downloadFile('o/p', 'model.safetensors', optsFor(same, tmp(), { token: 'tok' }));
      assert.deepEqual(readFileSync(p), readFileSync(join(TINY, 'model.safetensors')));
      const lfsGet = same.requests.find((r) => r.method === 'GET' && r.path.startsWith('/lfs/'));
      assert.equal(lfsGet?.server, 'hub');
      assert.equal(lfsGet?.headers.authorization, 'Bearer tok');
    } finally {
      await same.close();
    }
  });

  test('git files behind a relative 307 to /api/resolve-cache (as huggingface.co answers) are followed for metadata and bytes', async () => {
    const rc = await startMockHub({ repos: [{ id: 'o/p', dir: TINY }], gitRedirect: true });
    try {
      const cache = tmp();
      const p = await downloadFile('o/p', 'config.json', optsFor(rc, cache));
      const want = readFileSync(join(TINY, 'config.json'));
      assert.deepEqual(readFileSync(p), want);
      assert.equal(readlinkSync(p), `../../blobs/${gitSha1(want)}`);
      assert.deepEqual(
        rc.requests.map((r) => `${r.method} ${r.path.split('/').slice(0, 3).join('/')}`),
        ['HEAD /o/p', 'HEAD /api/resolve-cache', 'GET /api/resolve-cache'],
      );
    } finally {
      await rc.close();
    }
  });

  test('a renamed repo (relative 307) is followed to its new name', async () => {
    const p = await downloadFile('old-org/fgclip-tiny', 'config.json', optsFor(hub, tmp()));
    assert.deepEqual(readFileSync(p), readFileSync(join(TINY, 'config.json')));
  });

  test('a repo id without namespace and a tag revision: refs/<tag> written, snapshot at the tag commit', async () => {
    const cache = tmp();
    const p = await downloadFile('single-name', 'config.json', optsFor(hub, cache, { revision: 'v1' }));
    assert.equal(p, join(cache, 'models--single-name', 'snapshots', 'd'.repeat(40), 'config.json'));
    assert.equal(readFileSync(join(cache, 'models--single-name', 'refs', 'v1'), 'utf8'), 'd'.repeat(40));
  });

  test('a full commit hash as revision: no refs file; once cached, served with zero requests', async () => {
    const cache = tmp();
    const commit = hub.commitOf(REPO);
    const p = await downloadFile(REPO, 'config.json', optsFor(hub, cache, { revision: commit }));
    assert.equal(existsSync(join(storage(cache, REPO), 'refs')), false);
    const from = hub.requests.length;
    assert.equal(await downloadFile(REPO, 'config.json', optsFor(hub, cache, { revision: commit })), p);
    assert.equal(hub.requests.length, from);
  });

  test('progress callback: received grows to total = file size, for the file asked', async () => {
    const seen: Array<{ file: string; received: number; total?: number }> = [];
    await downloadFile(REPO, 'model.safetensors', optsFor(hub, tmp(), { onProgress: (p) => seen.push(p) }));
    const size = readFileSync(join(TINY, 'model.safetensors')).length;
    assert.ok(seen.length >= 2);
    assert.ok(seen.every((p) => p.file === 'model.safetensors' && p.total === size));
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].received >= seen[i - 1].received);
    assert.equal(seen.at(-1)?.received, size);
  });

  test('two concurrent downloads of the same file both succeed and leave one clean blob, no temp files', async () => {
    const cache = tmp();
    const [a, b] = await Promise.all([
      downloadFile(REPO, 'model.safetensors', optsFor(hub, cache)),
      downloadFile(REPO, 'model.safetensors', optsFor(hub, cache)),
    ]);
    assert.equal(a, b);
    assert.deepEqual(readFileSync(a), readFileSync(join(TINY, 'model.safetensors')));
    assert.deepEqual(readdirSync(join(storage(cache, REPO), 'blobs')), [sha256(readFileSync(join(TINY, 'model.safetensors')))]);
    assert.deepEqual(readdirSync(join(storage(cache, REPO), 'snapshots', hub.commitOf(REPO))), ['model.safetensors']);
  });
});

describe('resolveModelDir and offline reuse', () => {
  test('downloads the FG-CLIP file set; the snapshot folder holds every golden file with identical bytes', async () => {
    const cache = tmp();
    const from = hub.requests.length;
    const dir = await resolveModelDir(REPO, optsFor(hub, cache));
    assert.equal(dir, join(storage(cache, REPO), 'snapshots', hub.commitOf(REPO)));
    assert.deepEqual(readdirSync(dir).sort(), TINY_FILES);
    const hubGets = hub.requests.slice(from).filter((r) => r.server === 'hub' && r.method === 'GET');
    assert.ok(
      hubGets.length > 0 && hubGets.every((r) => r.path.startsWith(`/${REPO}/resolve/${hub.commitOf(REPO)}/`)),
      'git files fetched at the commit, not at main',
    );
    for (const f of TINY_FILES) assert.deepEqual(readFileSync(join(dir, f)), readFileSync(join(TINY, f)), f);
  });

  test('then offline (opts.offline, or HF_HUB_OFFLINE=1 in env) resolves the same folder with zero requests', async () => {
    const cache = tmp();
    const dir = await resolveModelDir(REPO, optsFor(hub, cache));
    const from = hub.requests.length;
    assert.equal(await resolveModelDir(REPO, optsFor(hub, cache, { offline: true })), dir);
    assert.equal(await resolveModelDir(REPO, { cacheDir: cache, endpoint: hub.url, env: { HF_HUB_OFFLINE: '1' } }), dir);
    assert.equal(await resolveModelDir(REPO, { env: { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: cache } }), dir);
    assert.equal(hub.requests.length, from);
  });

  test('online again with a complete cache: one HEAD (to learn the commit of main), no GET', async () => {
    const cache = tmp();
    await resolveModelDir(REPO, optsFor(hub, cache));
    const from = hub.requests.length;
    await resolveModelDir(REPO, optsFor(hub, cache));
    assert.deepEqual(
      hub.requests.slice(from).map((r) => `${r.method} ${r.path}`),
      [`HEAD /${REPO}/resolve/main/config.json`],
    );
  });

  test('a cache laid out by hand as Python huggingface_hub writes it is used offline, and online without any GET', async () => {
    const cache = tmp();
    const commit = hub.commitOf(REPO);
    const st = storage(cache, REPO);
    mkdirSync(join(st, 'blobs'), { recursive: true });
    mkdirSync(join(st, 'snapshots', commit), { recursive: true });
    mkdirSync(join(st, 'refs'), { recursive: true });
    writeFileSync(join(st, 'refs', 'main'), commit);
    for (const f of TINY_FILES) {
      const bytes = readFileSync(join(TINY, f));
      const etag = f.endsWith('.safetensors') ? sha256(bytes) : gitSha1(bytes);
      writeFileSync(join(st, 'blobs', etag), bytes);
      symlinkSync(`../../blobs/${etag}`, join(st, 'snapshots', commit, f));
    }
    const from = hub.requests.length;
    const dir = await resolveModelDir(REPO, { cacheDir: cache, env: { HF_HUB_OFFLINE: '1' } });
    assert.equal(dir, join(st, 'snapshots', commit));
    assert.equal(hub.requests.length, from, 'offline: no request');
    assert.equal(await resolveModelDir(REPO, optsFor(hub, cache)), dir);
    assert.equal(gets(hub, from), 0, 'online: nothing downloaded');
    assert.equal(readdirSync(join(st, 'blobs')).length, TINY_FILES.length, 'no new blob');
  });

  test('HF_HOME / HF_HUB_CACHE / HF_ENDPOINT / HF_TOKEN from env: cache under $HF_HOME/hub unless HF_HUB_CACHE, token sent', async () => {
    const home = tmp();
    const dir = await resolveModelDir('test-org/private', { env: { HF_HOME: home, HF_ENDPOINT: hub.url, HF_TOKEN: 'hf_secret' }, retryDelayMs: 1 });
    assert.ok(dir.startsWith(join(home, 'hub', 'models--test-org--private', 'snapshots')));
    const hubCache = tmp();
    const dir2 = await downloadFile(REPO, 'config.json', { env: { HF_HOME: home, HF_HUB_CACHE: hubCache, HF_ENDPOINT: hub.url } });
    assert.ok(dir2.startsWith(storage(hubCache, REPO)));
  });

  test('token read from $HF_HOME/token (huggingface-cli login) when HF_TOKEN is unset', async () => {
    const home = tmp();
    writeFileSync(join(home, 'token'), 'hf_secret\n');
    const p = await downloadFile('test-org/private', 'config.json', { env: { HF_HOME: home, HF_ENDPOINT: hub.url } });
    assert.ok(existsSync(p));
  });

  test('no model.safetensors (404) → no index (404) → pytorch_model.bin; absences cached in .no_exist like Python', async () => {
    const cache = tmp();
    const repo = 'test-org/fgclip-tiny-pt';
    const from = hub.requests.length;
    const dir = await resolveModelDir(repo, optsFor(hub, cache));
    assert.deepEqual(readdirSync(dir).sort(), readdirSync(TINY_PT).sort());
    assert.deepEqual(readFileSync(join(dir, 'pytorch_model.bin')), readFileSync(join(TINY_PT, 'pytorch_model.bin')));
    const heads = hub.requests
      .slice(from)
      .filter((r) => r.method === 'HEAD')
      .map((r) => r.path.split('/').pop());
    assert.ok(heads.indexOf('model.safetensors') < heads.indexOf('model.safetensors.index.json'));
    assert.ok(heads.indexOf('model.safetensors.index.json') < heads.indexOf('pytorch_model.bin'));
    const commit = hub.commitOf(repo);
    assert.ok(existsSync(join(storage(cache, repo), '.no_exist', commit, 'model.safetensors')));
    const again = hub.requests.length;
    assert.equal(await resolveModelDir(repo, optsFor(hub, cache)), dir);
    assert.equal(hub.requests.length - again, 1, 'second run: one HEAD for config.json, absences answered from .no_exist');
    assert.equal(await resolveModelDir(repo, optsFor(hub, cache, { offline: true })), dir, 'offline fallback to the cached .bin');
  });

  test('model.safetensors.index.json → every shard named in weight_map is downloaded once', async () => {
    const cache = tmp();
    const dir = await resolveModelDir('test-org/sharded', optsFor(hub, cache));
    assert.deepEqual(readdirSync(dir).sort(), [
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
    assert.equal(readFileSync(join(dir, 'model-00002-of-00002.safetensors')).length, 2000);
  });

  test('a local folder is returned as is (absolute) with no request; a file or a non-id is MODEL_NOT_FOUND', async () => {
    const from = hub.requests.length;
    assert.equal(await resolveModelDir(TINY, optsFor(hub, tmp())), resolve(TINY));
    await assert.rejects(resolveModelDir(join(TINY, 'config.json'), optsFor(hub, tmp())), isCode('MODEL_NOT_FOUND'));
    await assert.rejects(resolveModelDir('./no/such/dir', optsFor(hub, tmp())), isCode('MODEL_NOT_FOUND'));
    assert.equal(hub.requests.length, from);
  });

  test('org/name@revision selects the revision; a conflicting opts.revision is INPUT_INVALID', async () => {
    const cache = tmp();
    const dir = await resolveModelDir(`${REPO}@${hub.commitOf(REPO)}`, optsFor(hub, cache));
    assert.equal(dir, join(storage(cache, REPO), 'snapshots', hub.commitOf(REPO)));
    await assert.rejects(resolveModelDir(`${REPO}@v2`, optsFor(hub, cache, { revision: 'main' })), isCode('INPUT_INVALID'));
  });

  test('offline and not cached → OFFLINE naming repo, revision and `fgclip download`, with zero requests', async () => {
    const from = hub.requests.length;
    await assert.rejects(resolveModelDir(`${REPO}@v9`, optsFor(hub, tmp(), { offline: true })), (e: unknown) => {
      assert.ok(e instanceof FgClipError && e.code === 'OFFLINE');
      assert.match(e.message, new RegExp(`${REPO}@v9`));
      assert.match(e.message, /fgclip download test-org\/fgclip-tiny@v9/);
      return true;
    });
    assert.equal(hub.requests.length, from);
  });

  test('snapshotDownload: required and optional files; an absent optional file is skipped', async () => {
    const cache = tmp();
    const dir = await snapshotDownload(REPO, { ...optsFor(hub, cache), files: ['config.json'], optionalFiles: ['vocab.json', 'does-not-exist.txt'] });
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'vocab.json']);
    await assert.rejects(snapshotDownload(REPO, { ...optsFor(hub, cache), files: ['does-not-exist.txt'] }), isCode('MODEL_NOT_FOUND'));
    await assert.rejects(snapshotDownload(REPO, optsFor(hub, cache)), isCode('INPUT_INVALID'));
    await assert.rejects(snapshotDownload(REPO, { ...optsFor(hub, cache), files: ['../escape'] }), isCode('INPUT_INVALID'));
  });

  test('cachedModels lists repo ids, snapshot commits, refs and the size of complete blobs', async () => {
    const cache = tmp();
    await resolveModelDir(REPO, optsFor(hub, cache));
    await downloadFile('single-name', 'config.json', optsFor(hub, cache));
    writeFileSync(join(storage(cache, REPO), 'blobs', `${'e'.repeat(64)}.incomplete`), Buffer.alloc(10));
    const models = cachedModels(cache);
    assert.deepEqual(
      models.map((m) => m.repo),
      ['single-name', REPO],
    );
    const tiny = models[1];
    assert.deepEqual(tiny.revisions, [hub.commitOf(REPO)]);
    assert.deepEqual(tiny.refs, { main: hub.commitOf(REPO) });
    const want = TINY_FILES.reduce((n, f) => n + readFileSync(join(TINY, f)).length, 0);
    assert.equal(tiny.sizeBytes, want);
    assert.equal(tiny.path, storage(cache, REPO));
    assert.deepEqual(cachedModels(join(cache, 'missing')), []);
  });
});
