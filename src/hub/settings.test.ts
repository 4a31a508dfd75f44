import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { defaultCacheDir, defaultEndpoint, defaultToken, hfHome, hubFileUrl, isOfflineEnv, isRepoId, parseModelRef, resolveSettings } from './settings.js';

const tmpDirs: string[] = [];
after(() => tmpDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('hub settings from the environment (same variables and precedence as huggingface_hub)', () => {
  test('cache dir: HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub > $XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub', () => {
    assert.equal(defaultCacheDir({ HF_HUB_CACHE: '/a', HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' }), '/a');
    assert.equal(defaultCacheDir({ HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' }), '/b');
    assert.equal(defaultCacheDir({ HF_HOME: '/c', XDG_CACHE_HOME: '/x' }), '/c/hub');
    assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/huggingface/hub');
    assert.equal(defaultCacheDir({}), join(homedir(), '.cache', 'huggingface', 'hub'));
    assert.equal(defaultCacheDir({ HF_HOME: '~/hf' }), join(homedir(), 'hf', 'hub'));
    assert.equal(defaultCacheDir({ HF_HUB_CACHE: '' }), join(homedir(), '.cache', 'huggingface', 'hub'), 'empty values are ignored');
    assert.equal(hfHome({ HF_HOME: '/c' }), '/c');
  });

  test('defaultCacheDir() without arguments reads process.env (restored afterwards)', () => {
    const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_HOME: process.env.HF_HOME };
    try {
      delete process.env.HF_HUB_CACHE;
      process.env.HF_HOME = '/tmp/some-hf-home';
      assert.equal(defaultCacheDir(), '/tmp/some-hf-home/hub');
      process.env.HF_HUB_CACHE = '/tmp/some-hub-cache';
      assert.equal(defaultCacheDir(), '/tmp/some-hub-cache');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('endpoint: HF_ENDPOINT without trailing slash, default https://huggingface.co', () => {
    assert.equal(defaultEndpoint({}), 'https://huggingface.co');
    assert.equal(defaultEndpoint({ HF_ENDPOINT: 'https://hf-mirror.com/' }), 'https://hf-mirror.com');
  });

  test('token: HF_TOKEN > HUGGING_FACE_HUB_TOKEN > HF_TOKEN_PATH file > $HF_HOME/token file; whitespace trimmed', () => {
    const home = mkdtempSync(join(tmpdir(), 'fgclip-hfhome-'));
    tmpDirs.push(home);
    writeFileSync(join(home, 'token'), 'hf_from_home_file\n');
    const alt = join(home, 'alt-token');
    writeFileSync(alt, '  hf_from_token_path  ');
    assert.equal(defaultToken({ HF_TOKEN: 'hf_env', HUGGING_FACE_HUB_TOKEN: 'hf_legacy', HF_HOME: home }), 'hf_env');
    assert.equal(defaultToken({ HUGGING_FACE_HUB_TOKEN: 'hf_legacy', HF_HOME: home }), 'hf_legacy');
    assert.equal(defaultToken({ HF_TOKEN_PATH: alt, HF_HOME: home }), 'hf_from_token_path');
    assert.equal(defaultToken({ HF_HOME: home }), 'hf_from_home_file');
    assert.equal(defaultToken({ HF_TOKEN: '', HF_HOME: join(home, 'nothing-here') }), undefined);
  });

  test('offline: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE in 1/ON/YES/TRUE (any case); anything else is online', () => {
    for (const v of ['1', 'on', 'YES', 'True']) assert.equal(isOfflineEnv({ HF_HUB_OFFLINE: v }), true, v);
    assert.equal(isOfflineEnv({ TRANSFORMERS_OFFLINE: '1' }), true);
    for (const v of ['0', '', 'false', 'no']) assert.equal(isOfflineEnv({ HF_HUB_OFFLINE: v }), false, v);
    assert.equal(isOfflineEnv({}), false);
  });

  test('resolveSettings: options win over env; env option used instead of process.env', () => {
    const env = { HF_ENDPOINT: 'http://e', HF_TOKEN: 't', HF_HUB_CACHE: '/c', HF_HUB_OFFLINE: '1' };
    const s = resolveSettings({ env });
    assert.deepEqual([s.endpoint, s.token, s.cacheDir, s.offline, s.revision], ['http://e', 't', '/c', true, 'main']);
    const o = resolveSettings({ env, endpoint: 'http://o/', token: 'u', cacheDir: '/d', offline: false, revision: 'v1' });
    assert.deepEqual([o.endpoint, o.token, o.cacheDir, o.offline, o.revision], ['http://o', 'u', '/d', false, 'v1']);
  });

  test('resolveSettings rejects an empty revision and negative retries with INPUT_INVALID', () => {
    assert.throws(
      () => resolveSettings({ env: {}, revision: '' }),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID',
    );
    assert.throws(
      () => resolveSettings({ env: {}, retries: -1 }),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID',
    );
  });
});

describe('repo ids and URLs', () => {
  test('isRepoId accepts org/name, name and org/name@revision; rejects paths and malformed ids', () => {
    for (const ok of ['qihoo360/fg-clip-base', 'bert-base-uncased', 'org/name@v1.0', 'org/name@refs/pr/1', 'a.b/c_d']) assert.equal(isRepoId(ok), true, ok);
    for (const bad of ['', './model', '/abs/path', 'a/b/c', 'org/na--me', 'org/..', 'org/name.git', 'org/name@', 'org/na me', '-org/name', 'org/name/'])
      assert.equal(isRepoId(bad), false, bad);
  });

  test('isRepoId is false for an existing local path that looks like an id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fgclip-repoid-'));
    tmpDirs.push(dir);
    mkdirSync(join(dir, 'org', 'name'), { recursive: true });
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      assert.equal(isRepoId('org/name'), false);
      assert.equal(isRepoId('org/other'), true);
    } finally {
      process.chdir(cwd);
    }
  });

  test('parseModelRef splits at the first "@"', () => {
    assert.deepEqual(parseModelRef('org/name'), { repo: 'org/name' });
    assert.deepEqual(parseModelRef('org/name@refs/pr/1'), { repo: 'org/name', revision: 'refs/pr/1' });
  });

  test('hubFileUrl: {endpoint}/{repo}/resolve/{revision, fully encoded}/{file, "/" kept}', () => {
    assert.equal(hubFileUrl('org/name', 'config.json', { env: {} }), 'https://huggingface.co/org/name/resolve/main/config.json');
    assert.equal(
      hubFileUrl('org/name', 'sub dir/a+b.json', { endpoint: 'http://h:1/', revision: 'refs/pr/1' }),
      'http://h:1/org/name/resolve/refs%2Fpr%2F1/sub%20dir/a%2Bb.json',
    );
    assert.throws(
      () => hubFileUrl('not a repo', 'x'),
      (e: unknown) => e instanceof FgClipError && e.code === 'INPUT_INVALID',
    );
  });
});
