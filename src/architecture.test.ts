/**
 * The layering rules of docs/architecture.md, checked on the source: no import cycle in src/ (type-only imports
 * included, so the layers read one way), and the platform-free layers import nothing from Node or a Node-only package.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './test-util/goldens.js';

const SRC = join(REPO_ROOT, 'src');

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) files(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Module specifiers a file imports or re-exports (static and dynamic). */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of text.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

const all = files(SRC);
const known = new Set(all);
const graph = new Map<string, string[]>(
  all.map((f) => [
    f,
    specifiers(f)
      .filter((s) => s.startsWith('.'))
      .map((s) => resolve(dirname(f), s).replace(/\.js$/, '.ts'))
      .filter((p) => known.has(p)),
  ]),
);

test('no import cycle in src/ (strongly connected components of the import graph are single files)', () => {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w) {
          on.delete(w);
          scc.push(w);
        }
      } while (w && w !== v);
      if (scc.length > 1) cycles.push(scc.map((f) => relative(SRC, f)).sort());
    }
  };
  for (const f of all) if (!idx.has(f)) visit(f);
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.map((c) => c.join(' ↔ ')).join('\n')}`);
});

const PLATFORM_FREE = (f: string) => {
  const r = relative(SRC, f);
  return (
    r.startsWith('graph/') ||
    r.startsWith('tokenizer/') ||
    r.startsWith('postprocess/') ||
    /^preprocess\/resize[^/]*\.ts$/.test(r) ||
    r === 'model/text-batches.ts' ||
    r === 'hub/repo-ref.ts' ||
    r === 'platform/ports.ts'
  );
};
/** Packages that only run on Node (native addons or Node APIs). */
const NODE_ONLY = ['onnxruntime-node', 'sharp'];

test('src/graph, src/tokenizer, src/preprocess/resize*, src/postprocess, src/model/text-batches.ts, src/hub/repo-ref.ts, the port interfaces (and what they import) use nothing from Node or a platform', () => {
  const seen = new Set<string>();
  const bad: string[] = [];
  const walk = (f: string, via: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const s of specifiers(f)) {
      if (s.startsWith('node:') || NODE_ONLY.includes(s) || ['fs', 'path', 'os', 'crypto', 'worker_threads', 'child_process'].includes(s))
        bad.push(`${relative(SRC, f)} imports ${s}${via ? ` (reached from ${via})` : ''}`);
    }
    // a platform's implementation of the ports is injected, never imported by the shared layers
    if (relative(SRC, f).startsWith('platform/') && relative(SRC, f) !== 'platform/ports.ts')
      bad.push(`${relative(SRC, f)} is a platform implementation${via ? ` (reached from ${via})` : ''}`);
    for (const g of graph.get(f) ?? []) walk(g, via || relative(SRC, f));
  };
  for (const f of all.filter(PLATFORM_FREE)) walk(f, '');
  assert.deepEqual(bad, []);
});

test('tsconfig.platform-free.json type-checks every platform-free layer without Node types', () => {
  const cfg = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.platform-free.json'), 'utf8')) as { compilerOptions: { types: string[] }; include: string[] };
  assert.deepEqual(cfg.compilerOptions.types, []);
  for (const glob of ['src/graph/**/*.ts', 'src/tokenizer/**/*.ts', 'src/preprocess/resize*.ts', 'src/postprocess/**/*.ts', 'src/platform/ports.ts']) {
    assert.ok(cfg.include.includes(glob), `tsconfig.platform-free.json includes ${glob}`);
  }
});

test('package.json exports: "." has explicit node and browser conditions (Node build vs the web build), types first', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
  const dot = pkg.exports['.'];
  assert.deepEqual(Object.keys(dot), ['types', 'node', 'browser', 'default']);
  assert.equal(dot.node, './dist/index.js');
  assert.equal(dot.browser, './dist/browser/index.js');
  assert.equal(dot.default, dot.node, 'tools without conditions get the Node build');
});

test('the families (shared, clip, fgclip, and FG-CLIP 2 for inference) reach ONNX Runtime, the graph cache, config and tokenizer files and image decoding only through the ports', () => {
  const bad: string[] = [];
  for (const f of all) {
    const r = relative(SRC, f);
    // FG-CLIP 2's training files (train*.ts, loss.ts) run their own gradient engine; its token table reads rows of
    // the weight file on demand (weights are read by path in every family, as src/weights does)
    const inference = /^families\/(shared|clip|fgclip)\//.test(r) || /^families\/fgclip2\/(index|model|graphs|config)\.ts$/.test(r);
    if (!inference) continue;
    for (const s of specifiers(f)) {
      if (
        /^(node:|onnxruntime-|sharp$)/.test(s) ||
        /\/platform\/(node|browser)\/|\/runtime\/session\.js$|\/cache\/graph-cache\.js$|\/preprocess\/decode\.js$/.test(s)
      )
        bad.push(`${r} imports ${s}`);
    }
  }
  assert.deepEqual(bad, []);
});
