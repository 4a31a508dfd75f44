/**
 * The published package, as a library user gets it: `npm pack` (which builds dist/), the file list (no test code,
 * no source maps, LICENSE and README in), then `npm ci --offline` of the tarball into an empty project — only
 * packages from the npm cache, onnxruntime-node's CUDA download skipped as the README says — and the README's
 * library example run there on the tiny golden model (the repo id and image file are the only substitutions).
 * The scratch project's lockfile pins each dependency to the version and integrity of this repo's lockfile, so the
 * install needs no registry metadata (npm ci fetches nothing that is cached).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { goldenPath } from './test-util/goldens.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  link?: boolean;
  [k: string]: unknown;
}

describe('the npm package (pack → install from cache → README example)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fgclip-pack-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
  let tarball = '';

  test('npm pack: dist, bin, web, README, LICENSE; no tests, test helpers, sources or source maps', () => {
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [info] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    tarball = join(tmp, info.filename);
    const files = info.files.map((f) => f.path);
    for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/fgclip.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/server/model-worker.js']) assert.ok(files.includes(f), `${f} is published`);
    const bad = files.filter((f) => /\.map$|\.test\.|test-util|test-helpers|^src\//.test(f));
    assert.deepEqual(bad, []);
    assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    for (const f of files.filter((x) => x.endsWith('.js'))) assert.ok(!/sourceMappingURL/.test(readFileSync(join(ROOT, f), 'utf8')), `${f} points at a source map`);
  });

  test('installs offline into an empty project and runs the README library example', () => {
    assert.ok(tarball, 'packed');
    const app = join(tmp, 'app');
    mkdirSync(app);
    const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; bin: Record<string, string>; license: string; engines: Record<string, string> };
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    const spec = `file:${tarball}`;
    const packages: Record<string, LockEntry> = {
      '': { name: 'app', version: '1.0.0', dependencies: { fgclip: spec } },
      'node_modules/fgclip': { version: pkg.version, resolved: spec, integrity, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
    };
    for (const [k, v] of Object.entries(repoLock.packages)) {
      if (!k.startsWith('node_modules/') || v.dev || v.link) continue;
      // lockfiles may leave out `resolved` for the default registry; without it npm would ask the registry where the
      // tarball is, so write the registry's standard tarball address (the cache is looked up by integrity)
      const name = k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
      packages[k] = v.resolved || !v.version ? v : { ...v, resolved: `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${v.version}.tgz` };
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module', dependencies: { fgclip: spec } }, null, 2));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
    execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app, env, stdio: ['ignore', 'ignore', 'pipe'] });
    // the README's example, with the Hub id and image replaced by the tiny golden model and a golden image
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /## Library\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block !== undefined && block.includes("from 'fgclip'"), 'the README has a library example');
    const code = block.replaceAll("'qihoo360/fg-clip-base'", JSON.stringify(goldenPath('fgclip-tiny'))).replaceAll("'cat_dfclor.jpg'", JSON.stringify(goldenPath('images', 'cat_dfclor.jpg')));
    writeFileSync(join(app, 'example.mjs'), code);
    const out = execFileSync(process.execPath, ['example.mjs'], { cwd: app, encoding: 'utf8' });
    const probs = JSON.parse(out.trim().replace(/^Float32Array\(\d+\) /, '').replace(/\s+/g, '')) as number[];
    assert.equal(probs.length, 2);
    assert.ok(Math.abs(probs[0] + probs[1] - 1) < 1e-5, `probabilities ${out}`);
    const bin = execFileSync(join(app, 'node_modules', '.bin', 'fgclip'), ['--version'], { encoding: 'utf8' });
    assert.equal(bin.trim(), pkg.version);
  });
});
