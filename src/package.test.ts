/**
 * The published package (`npm pack` file list, built from this tree into a scratch folder): no test code (tests,
 * test helpers, the mock Hub, golden loaders), and every source map either points at a file in the package or carries
 * its source inline.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from './test-util/goldens.js';

const scratch = mkdtempSync(join(tmpdir(), 'fgclip-pack-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('npm pack --dry-run: no test code in the package, no source map pointing at a missing source', () => {
  const pkg = join(scratch, 'pkg');
  for (const f of ['package.json', 'bin', 'web', 'README.md', 'LICENSE'])
    if (existsSync(join(REPO_ROOT, f))) cpSync(join(REPO_ROOT, f), join(pkg, f), { recursive: true });
  const tsc = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')],
    { encoding: 'utf8' },
  );
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  const npm = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: pkg,
    encoding: 'utf8',
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  assert.equal(npm.status, 0, npm.stderr);
  const files = (JSON.parse(npm.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
  assert.ok(files.includes('dist/index.js') && files.includes('bin/fgclip.js'), files.slice(0, 20).join('\n'));
  const testish = files.filter((f) => /\.test\.|(^|\/)test-util\/|test-helpers|mock-hub|goldens/.test(f));
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
