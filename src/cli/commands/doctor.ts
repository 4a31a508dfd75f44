/**
 * `fgclip doctor`: what this installation runs with — versions, execution provider, default thread count, the
 * Hugging Face cache and the models in it, and the fgclip embedding cache. `--json` prints the same as an object.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { cachedModels, defaultCacheDir, formatBytes, isOfflineEnv } from '../../hub/index.js';
import { defaultThreads, ort } from '../../runtime/session.js';
import { CACHE_KINDS, listCache, type CacheKind } from '../../cache/cache-admin.js';
import { fgclipCacheDir } from '../../cache/vector-store.js';
import { flag, int, parse, printJson, type Io } from '../args.js';

export interface DoctorReport {
  versions: { fgclip: string; node: string; 'onnxruntime-node': string; sharp: string; libvips: string };
  platform: string;
  executionProvider: 'cpu';
  threads: number;
  hfCache: { path: string; exists: boolean; offline: boolean; models: { repo: string; revisions: number; size: string; path: string }[] };
  /** `models`: embedding stores (one per model); `entries`: every kind `fgclip cache` lists and cleans */
  fgclipCache: { path: string; exists: boolean; models: number; size: string; entries: Record<CacheKind, number> };
}

function packageVersion(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

function folderSize(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((n, e) => n + folderSize(join(p, e)), 0);
}

export function doctorReport(env: NodeJS.ProcessEnv, threads?: number): DoctorReport {
  const hf = defaultCacheDir(env);
  const fc = fgclipCacheDir({ env });
  const fcModels = existsSync(join(fc, 'v1')) ? readdirSync(join(fc, 'v1')).filter((n) => /^[0-9a-f]{64}$/.test(n)).length : 0;
  const listed = listCache(fc);
  const entries = Object.fromEntries(CACHE_KINDS.map((k) => [k, listed.filter((i) => i.kind === k).length])) as Record<CacheKind, number>;
  const versions = sharp.versions as { vips: string; sharp?: string };
  return {
    versions: {
      fgclip: packageVersion(),
      node: process.versions.node,
      'onnxruntime-node': ort.env.versions.node ?? ort.env.versions.common,
      sharp: versions.sharp ?? 'unknown',
      libvips: versions.vips,
    },
    platform: `${process.platform}-${process.arch}`,
    executionProvider: 'cpu',
    threads: threads ?? defaultThreads(),
    hfCache: {
      path: hf,
      exists: existsSync(hf),
      offline: isOfflineEnv(env),
      models: cachedModels(hf).map((m) => ({ repo: m.repo, revisions: m.revisions.length, size: formatBytes(m.sizeBytes), path: m.path })),
    },
    fgclipCache: { path: fc, exists: existsSync(fc), models: fcModels, size: formatBytes(folderSize(fc)), entries },
  };
}

export async function doctorCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse('doctor', argv, {
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    threads: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const threads = int(values, 'threads');
  const r = doctorReport(io.env, threads);
  if (flag(values, 'json')) {
    printJson(io, r);
    return 0;
  }
  const v = r.versions;
  const lines = [
    `fgclip            ${v.fgclip}`,
    `node              ${v.node} (${r.platform})`,
    `onnxruntime-node  ${v['onnxruntime-node']}`,
    `sharp             ${v.sharp} (libvips ${v.libvips})`,
    `execution         ${r.executionProvider}, ${r.threads} threads${threads === undefined ? ' by default (--threads N)' : ' (--threads)'}`,
    `HF cache          ${r.hfCache.path}${r.hfCache.exists ? '' : ' (not created yet)'}${r.hfCache.offline ? ' [offline]' : ''}`,
    ...(r.hfCache.models.length === 0 ? ['  (no models)'] : r.hfCache.models.map((m) => `  ${m.repo}  ${m.revisions} revision(s), ${m.size}`)),
    `fgclip cache      ${r.fgclipCache.path}${r.fgclipCache.exists ? `, ${r.fgclipCache.size}: ${r.fgclipCache.entries.graphs} compiled graph set(s), ${r.fgclipCache.entries.folders} folder collection(s), ${r.fgclipCache.entries.embeddings} embedding store(s) (fgclip cache: list, clean)` : ' (not created yet)'}`,
  ];
  io.stdout.write(lines.join('\n') + '\n');
  return 0;
}
