/**
 * `npm run demo`: serves the browser build (dist/browser/, built first if missing) on loopback with the two
 * cross-origin-isolation headers, so onnxruntime-web gets its threads, and prints the demo's address.
 *   npm run demo -- [--port 8080] [--dir dist/browser] [--model-dir /path/to/model]   (--model-dir: served at /model/)
 * A production site sets the same two headers in its own server (see README "In the browser").
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startStaticServer } from '../src/test-util/static-server.js';

const root = resolve(import.meta.dirname, '..');
const arg = (flag: string) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const dir = resolve(arg('--dir') ?? join(root, 'dist', 'browser'));
const port = Number(arg('--port') ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: expected 0–65535 (got ${arg('--port')})`);
  process.exit(2);
}
if (!existsSync(join(dir, 'index.js'))) {
  const b = spawnSync(process.execPath, [join(root, 'scripts', 'build-browser.mjs')], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const modelDir = arg('--model-dir');
const server = await startStaticServer({ ...(modelDir ? { '/model/': resolve(modelDir) } : {}), '/': dir }, {}, { port });
const model = modelDir ? '?model=/model/' : '';
console.log(`fgclip browser build at ${server.url}/ (cross-origin isolated); demo: ${server.url}/demo/index.html${model}`);
const stop = () => void server.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
