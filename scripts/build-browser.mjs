#!/usr/bin/env node
// Browser build (part of `npm run build`): bundles src/platform/browser/{index,worker}.ts with esbuild into
// dist/browser/ and copies the wasm files beside them (onnxruntime-web, the PNG and JPEG decoders) and the demo
// page, so dist/browser/ works when served as is by any static server.
// Node-only modules reachable from shared code (node:*, sharp, onnxruntime-node) become a stub that throws if used.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'browser');
const src = join(root, 'src', 'platform', 'browser');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const nodeStub = {
  name: 'node-stub',
  setup(b) {
    b.onResolve({ filter: /^(node:.*|sharp|onnxruntime-node|fs|path|os|crypto|url|worker_threads)$/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (a) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${a.path} is not available in the browser build`)}); };
        const stub = new Proxy(fail, { get: (_t, k) => (k === '__esModule' ? false : k === 'default' ? stub : fail), apply: fail });
        module.exports = stub;`,
      loader: 'js',
    }));
  },
};

const result = await build({
  entryPoints: { index: join(src, 'index.ts'), worker: join(src, 'worker.ts') },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  chunkNames: 'chunks/[name]-[hash]',
  legalComments: 'linked',
  metafile: true,
  plugins: [nodeStub],
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});

const copy = (from, to = '') => copyFileSync(join(root, 'node_modules', from), join(out, to, from.split('/').pop()));
mkdirSync(join(out, 'chunks'), { recursive: true });
for (const f of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.mjs']) {
  copy(`onnxruntime-web/dist/${f}`); // found through ort.env.wasm.wasmPaths = the worker's folder
}
// the decoders locate their wasm beside the chunk that loads them
for (const f of ['@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm', '@jsquash/png/codec/pkg/squoosh_png_bg.wasm']) copy(f, 'chunks');
mkdirSync(join(out, 'demo'), { recursive: true });
for (const f of readdirSync(join(src, 'demo'))) copyFileSync(join(src, 'demo', f), join(out, 'demo', f));
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
if (process.argv.includes('--verbose')) console.log(`dist/browser: ${(bytes / 1024).toFixed(0)} KiB of JS`);
