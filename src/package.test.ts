/**
 * The published package, as a library user gets it. Built from this tree into a scratch folder (the repo's dist/
 * is not touched): the `npm pack` file list holds no test code (tests, test helpers, the mock Hub, golden loaders)
 * and every source map either points at a file in the package or carries its source inline. Then the packed
 * tarball is installed with `npm ci --offline` into an empty project — only packages already in the npm cache, i.e.
 * nothing beyond the npm registry, with onnxruntime-node's CUDA download skipped as the README says — and the
 * README's library example runs there on the tiny golden model (the Hub id and image file are the only
 * substitutions), as does the installed `fgclip` bin.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { goldenPath, REPO_ROOT } from './test-util/goldens.js';

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  link?: boolean;
  [k: string]: unknown;
}

describe('the npm package (file list → pack → offline install → README example)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'fgclip-pack-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  const pkg = join(scratch, 'pkg');
  // what the README tells library users to set (npm ≤ 10 runs dependencies' install scripts)
  const env = {
    ...process.env,
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    npm_config_loglevel: 'error',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  let tarball = '';

  test('npm pack: no test code in the package, no source map pointing at a missing source, LICENSE and README in', () => {
    for (const f of ['package.json', 'bin', 'web', 'README.md', 'LICENSE'])
      if (existsSync(join(REPO_ROOT, f))) cpSync(join(REPO_ROOT, f), join(pkg, f), { recursive: true });
    const tsc = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')],
      { encoding: 'utf8' },
    );
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    const npm = spawnSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: pkg, encoding: 'utf8', env });
    assert.equal(npm.status, 0, npm.stderr);
    const [info] = JSON.parse(npm.stdout.slice(npm.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = join(scratch, info.filename);
    const files = info.files.map((f) => f.path);
    for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/fgclip.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js'])
      assert.ok(files.includes(f), `${f} is published`);
    assert.match(readFileSync(join(pkg, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    const testish = files.filter((f) => /\.test\.|(^|\/)test-util\/|test-helpers|mock-hub|goldens|^src\//.test(f));
    assert.deepEqual(testish, []);
    const inPackage = new Set(files);
    const dangling: string[] = [];
    for (const f of files.filter((x) => x.endsWith('.map'))) {
      const map = JSON.parse(readFileSync(join(pkg, f), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      map.sources.forEach((s, i) => {
        const target = resolve(dirname(join(pkg, f)), s).slice(pkg.length + 1);
        if (!inPackage.has(target) && typeof map.sourcesContent?.[i] !== 'string') dangling.push(`${f} → ${s}`);
      });
    }
    assert.deepEqual(dangling, []);
  });

  test('the tarball installs offline into an empty project; the README library example and the bin run there', () => {
    assert.ok(tarball, 'packed by the previous test');
    const app = join(scratch, 'app');
    mkdirSync(app);
    // The scratch project's lockfile pins every runtime dependency to this repo's lockfile entry (version and
    // integrity), so `npm ci --offline` needs no registry metadata: every tarball comes from the npm cache, which
    // this checkout's own `npm ci` filled. A package missing from the cache fails the install (ENOTCACHED).
    const repoLock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
    const meta = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
      dependencies: Record<string, string>;
      bin: Record<string, string>;
      license: string;
      engines: Record<string, string>;
    };
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    const spec = `file:${tarball}`;
    const packages: Record<string, LockEntry> = {
      '': { name: 'app', version: '1.0.0', dependencies: { fgclip: spec } },
      'node_modules/fgclip': {
        version: meta.version,
        resolved: spec,
        integrity,
        license: meta.license,
        dependencies: meta.dependencies,
        bin: meta.bin,
        engines: meta.engines,
      },
    };
    for (const [k, v] of Object.entries(repoLock.packages)) {
      if (!k.startsWith('node_modules/') || v.dev || v.link) continue;
      // a lockfile may leave out `resolved` for the default registry; npm would then ask the registry where the
      // tarball is, so write the registry's standard address (the cache is looked up by integrity)
      const name = k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
      packages[k] = v.resolved || !v.version ? v : { ...v, resolved: `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${v.version}.tgz` };
    }
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module', dependencies: { fgclip: spec } }, null, 2),
    );
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
    const ci = spawnSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app, env, encoding: 'utf8' });
    assert.equal(ci.status, 0, ci.stderr);
    assert.doesNotMatch(ci.stderr, /Unknown (project|user|env) config/, 'no deprecated npm config key is relied on');
    // the README's example, with the Hub id and the image replaced by the tiny golden model and a golden image
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const block = /## Library\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block?.includes("from 'fgclip'"), 'the README has a library example');
    const code = (block ?? '')
      .replaceAll("'qihoo360/fg-clip-base'", JSON.stringify(goldenPath('fgclip-tiny')))
      .replaceAll("'cat_dfclor.jpg'", JSON.stringify(goldenPath('images', 'cat_dfclor.jpg')));
    assert.notEqual(code, block, 'the example names the model and image this test substitutes');
    writeFileSync(join(app, 'example.mjs'), code);
    const out = execFileSync(process.execPath, ['example.mjs'], { cwd: app, encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
    const probs = JSON.parse(
      out
        .trim()
        .replace(/^Float32Array\(\d+\) /, '')
        .replace(/\s+/g, ''),
    ) as number[];
    assert.equal(probs.length, 2);
    assert.ok(Math.abs(probs[0] + probs[1] - 1) < 1e-5, `probabilities ${out}`);
    const bin = join(app, 'node_modules', '.bin', 'fgclip');
    assert.equal(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim(), meta.version);
    const emb = JSON.parse(
      execFileSync(bin, ['embed', '--model', goldenPath('fgclip-tiny'), '--text', 'a photo of a cat', '--json', '--quiet'], { encoding: 'utf8' }),
    ) as { embeddings: number[][] };
    assert.equal(emb.embeddings.length, 1);
  });
});
