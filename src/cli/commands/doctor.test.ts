/**
 * `fgclip doctor` and `fgclip download` in-process, against a Hugging Face cache laid out in a temp folder
 * (offline mode, so nothing touches the network): versions, cache locations and cached models are reported;
 * download prints the snapshot folder once the files are cached and fails with OFFLINE when they are not.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { goldenPath, REPO_ROOT } from '../../test-util/goldens.js';
import { run } from '../../test-util/cli.js';

describe('fgclip doctor / download (CLI)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fgclip-cli-doctor-'));
  const hub = join(tmp, 'hf', 'hub');
  const commit = 'c'.repeat(40);
  const snapshot = join(hub, 'models--acme--fg-tiny', 'snapshots', commit);
  mkdirSync(snapshot, { recursive: true });
  mkdirSync(join(hub, 'models--acme--fg-tiny', 'refs'));
  writeFileSync(join(hub, 'models--acme--fg-tiny', 'refs', 'main'), commit);
  for (const f of ['config.json', 'model.safetensors', 'preprocessor_config.json', 'tokenizer.json'])
    copyFileSync(goldenPath('fgclip-tiny', f), join(snapshot, f));
  const env = { HF_HUB_CACHE: hub, HF_HUB_OFFLINE: '1', FGCLIP_CACHE: join(tmp, 'fgclip') };
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('doctor --json: versions, cpu, default threads, both caches and the cached models', async () => {
    const r = await run(['doctor', '--json'], env);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as {
      versions: Record<string, string>;
      executionProvider: string;
      threads: number;
      hfCache: { path: string; offline: boolean; models: { repo: string; revisions: number }[] };
      fgclipCache: { path: string; exists: boolean; entries: Record<string, number> };
    };
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(j.versions.fgclip, pkg.version);
    assert.equal(j.versions.node, process.versions.node);
    assert.match(j.versions['onnxruntime-node'], /^\d+\.\d+\.\d+/);
    assert.match(j.versions.sharp, /^\d+\.\d+\.\d+/);
    assert.equal(j.executionProvider, 'cpu');
    assert.ok(Number.isInteger(j.threads) && j.threads >= 1);
    assert.equal(j.hfCache.path, hub);
    assert.equal(j.hfCache.offline, true);
    assert.deepEqual(
      j.hfCache.models.map((m) => [m.repo, m.revisions]),
      [['acme/fg-tiny', 1]],
    );
    assert.equal(j.fgclipCache.path, join(tmp, 'fgclip'));
    assert.equal(j.fgclipCache.exists, false);
    assert.deepEqual(j.fgclipCache.entries, { graphs: 0, folders: 0, embeddings: 0 });
  });

  test('doctor (table) names every item', async () => {
    const r = await run(['doctor'], env);
    assert.equal(r.code, 0);
    for (const re of [
      /^fgclip\s+\d/m,
      /^node\s+/m,
      /^onnxruntime-node\s+\d/m,
      /^sharp\s+\d.*libvips/m,
      /^execution\s+cpu, \d+ threads/m,
      /^HF cache\s+.*\[offline\]$/m,
      /^ {2}acme\/fg-tiny {2}1 revision/m,
      /^fgclip cache\s+.*not created yet/m,
    ]) {
      assert.match(r.out, re);
    }
  });

  test('download prints the snapshot folder once the files are cached (exit 0), and the model loads from it', async () => {
    const r = await run(['download', 'acme/fg-tiny'], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${snapshot}\n`);
    const c = await run(['classify', '-m', r.out.trim(), goldenPath('images', 'gray_50x50.png'), '--labels', 'a,b', '--json', '--no-cache'], env);
    assert.equal(c.code, 0, c.err);
  });

  test('download errors: not cached while offline (OFFLINE, exit 1), not a repo id or no repo (exit 2)', async () => {
    const r = await run(['download', 'acme/other'], env);
    assert.equal(r.code, 1);
    assert.match(r.err, /\[OFFLINE\]/);
    assert.equal((await run(['download', tmp], env)).code, 2);
    assert.equal((await run(['download'], env)).code, 2);
    assert.equal((await run(['download', 'a/b', 'c/d'], env)).code, 2);
  });
});
