/**
 * `fgclip export`: a checkpoint (folder or Hub id) → a folder of standard ONNX files with external weights and a
 * manifest (manifest.ts), runnable by onnxruntime-node, onnxruntime-web (the browser build loads such a folder
 * directly) and Python's onnxruntime. Written into a temporary sibling folder and renamed into place, so an
 * interrupted export never leaves a folder that looks complete.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { loadConfig, loadPreprocessConfig } from '../config/index.js';
import { FgClipError } from '../errors.js';
import type { LinearDtype } from '../graph/blocks.js';
import { EXTERNAL_DATA_NAME } from '../graph/onnx-builder.js';
import { FileSink } from '../platform/node/file-sink.js';
import { isRepoId, resolveModelDir, type HubOptions } from '../hub/index.js';
import { weightSource } from '../weights/source.js';
import { loadCheckpoint } from '../families/fgclip/checkpoint.js';
import { buildExportGraphs, exportManifest } from './build.js';
import { EXPORT_MANIFEST, POSITIONS_FILE, type ExportManifest, type FileSpec } from './manifest.js';

/** Checkpoint files copied beside the graphs when present (tokenizer and preprocessing need them). */
const COPIED_FILES = [
  'config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
] as const;

export interface ExportOptions {
  readonly dtype?: LinearDtype;
  readonly revision?: string;
  readonly hub?: HubOptions;
  /** replace a non-empty output folder (default false: refuse) */
  readonly force?: boolean;
  readonly onWarning?: (message: string) => void;
}

export interface ExportResult {
  readonly dir: string;
  readonly manifest: ExportManifest;
}

export async function exportModel(model: string, outDir: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const dtype = opts.dtype ?? 'fp32';
  if (dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8')
    throw new FgClipError('INPUT_INVALID', `dtype: expected fp32, fp16 or int8 (got ${String(dtype)})`);
  const out = resolve(outDir);
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new FgClipError('INPUT_INVALID', `export: ${out} exists and is not a folder`);
    if (readdirSync(out).length > 0 && !opts.force) throw new FgClipError('INPUT_INVALID', `export: ${out} is not empty (pass force / --force to replace it)`);
  }
  const revision = opts.revision ?? opts.hub?.revision;
  const dir = await resolveModelDir(model, { ...opts.hub, revision });
  const config = await loadConfig(dir);
  const pre = await loadPreprocessConfig(dir, config, opts.onWarning ?? (() => undefined));
  const { tensors, unknown } = await loadCheckpoint(dir, config);
  if (unknown.length > 0) opts.onWarning?.(`${dir}: ${unknown.length} tensor(s) not used by FG-CLIP were not exported`);

  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}-${Date.now()}`);
  try {
    for (const sub of ['vision', 'text']) mkdirSync(join(tmp, sub), { recursive: true });
    const sinks = { text: new FileSink(join(tmp, 'text', EXTERNAL_DATA_NAME)), vision: new FileSink(join(tmp, 'vision', EXTERNAL_DATA_NAME)) };
    const built = buildExportGraphs(config, weightSource(tensors, true), dtype, sinks);
    tensors.clear();
    writeFileSync(join(tmp, 'text', 'model.onnx'), built.text.model);
    writeFileSync(join(tmp, 'vision', 'model.onnx'), built.vision.model);
    writeFileSync(join(tmp, POSITIONS_FILE), new Uint8Array(built.positions.buffer, built.positions.byteOffset, built.positions.byteLength));
    for (const f of COPIED_FILES) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(tmp, f));
    const files: Record<string, FileSpec> = {};
    for (const f of listFiles(tmp)) {
      const rel = relative(tmp, f).split('\\').join('/');
      files[rel] = { size: statSync(f).size, sha256: await sha256File(f) };
    }
    const source = isRepoId(model) ? { model, ...(revision ? { revision } : {}) } : { model: basename(resolve(model)) };
    const manifest = exportManifest(config, pre, built, { dtype, source, files });
    writeFileSync(join(tmp, EXPORT_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
    return { dir: out, manifest };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof FgClipError) throw e;
    throw new FgClipError('RUNTIME', `export: could not write ${out} (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
