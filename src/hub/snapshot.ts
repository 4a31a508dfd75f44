/**
 * Several files of one repo at one commit (huggingface_hub snapshot_download, without the listing API: the
 * caller names the files). The first file resolves the revision to a commit; every later file is fetched at
 * that commit, so a branch that moves mid-download cannot mix two versions in one snapshot folder.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FgClipError } from '../errors.js';
import { assertRepoFile, storageFolder } from './cache.js';
import { downloadHint, fetchFile, type FetchedFile, type Session } from './download.js';
import { HubHttpError, isNotFound } from './http.js';
import { oneRevision } from './repo-ref.js';
import { isValidRepoId, parseModelRef, resolveSettings, type HubOptions } from './settings.js';

/** Files FG-CLIP reads besides the weights; absent ones are left to the config/tokenizer loaders to report. */
export const MODEL_CONFIG_FILE = 'config.json';
export const MODEL_OPTIONAL_FILES = [
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
] as const;
/** Weight files in order of preference: a 404 on one falls back to the next. */
export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';
export const PYTORCH_FILE = 'pytorch_model.bin';

class SnapshotRun {
  commit: string | undefined;
  constructor(
    readonly sess: Session,
    readonly repo: string,
    readonly revision: string,
  ) {}

  async get(file: string): Promise<FetchedFile> {
    try {
      const r = await fetchFile(this.sess, this.repo, file, this.commit ?? this.revision);
      this.commit ??= r.commit;
      return r;
    } catch (e) {
      if (isNotFound(e) && e.cause.errorCode === 'EntryNotFound') this.commit ??= e.cause.commit;
      throw e;
    }
  }

  /** undefined when the file does not exist at this commit, or (offline / Hub unreachable) is not cached. */
  async getOptional(file: string): Promise<FetchedFile | undefined> {
    try {
      return await this.get(file);
    } catch (e) {
      if (this.isAbsent(e)) return undefined;
      throw e;
    }
  }

  private isAbsent(e: unknown): boolean {
    if (isNotFound(e)) return e.cause.errorCode !== 'RepoNotFound' && e.cause.errorCode !== 'RevisionNotFound';
    if (!(e instanceof FgClipError)) return false;
    return e.code === 'OFFLINE' || (this.sess.unreachable !== undefined && e.code === 'HUB_ERROR' && !(e.cause instanceof HubHttpError));
  }

  dir(): string {
    if (this.commit === undefined) {
      throw new FgClipError('MODEL_NOT_FOUND', `hub ${this.repo}@${this.revision}: none of the requested files exist. Check the file names and the repo id.`);
    }
    return join(storageFolder(this.sess.s.cacheDir, this.repo), 'snapshots', this.commit);
  }

  /** The error for "none of the alternatives is available", with the code that says why. */
  missing(what: string, files: readonly string[]): FgClipError {
    const w = `hub ${this.repo}@${this.revision}`;
    const list = files.join(', ');
    if (this.sess.s.offline) {
      return new FgClipError(
        'OFFLINE',
        `${w}: ${what} not in the cache and offline mode is on (expected one of ${list}). Run ${downloadHint(this.repo, this.revision)} while online, or unset HF_HUB_OFFLINE.`,
      );
    }
    if (this.sess.unreachable) {
      return new FgClipError(
        'HUB_ERROR',
        `${w}: the Hub could not be reached and ${what} is not in the cache (expected one of ${list}). Check the network connection and try again.`,
        { cause: this.sess.unreachable },
      );
    }
    return new FgClipError('MODEL_NOT_FOUND', `${w}: no ${what} in the repo (expected one of ${list}). Is this an FG-CLIP checkpoint in Hugging Face format?`);
  }
}

/**
 * Downloads `files` (each must exist) and `optionalFiles` (skipped when absent) into the cache and returns the
 * snapshot folder, snapshots/<commit>.
 */
export async function snapshotDownload(repo: string, opts: HubOptions & { files?: string[]; optionalFiles?: string[] } = {}): Promise<string> {
  const files = opts.files ?? [];
  const optionalFiles = opts.optionalFiles ?? [];
  if (files.length + optionalFiles.length === 0) {
    throw new FgClipError(
      'INPUT_INVALID',
      `hub ${repo}: snapshotDownload needs files (expected a non-empty files or optionalFiles list, got none). Use resolveModelDir for a whole FG-CLIP model.`,
    );
  }
  for (const f of [...files, ...optionalFiles]) assertRepoFile(f);
  const s = resolveSettings(opts);
  const run = new SnapshotRun({ s }, repo, s.revision);
  for (const f of files) await run.get(f);
  for (const f of optionalFiles) await run.getOptional(f);
  return run.dir();
}

/** Shard file names of a model.safetensors.index.json ({"weight_map": {tensor: file}}). */
function shardFiles(indexPath: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new FgClipError('WEIGHTS_MALFORMED', `${indexPath}: not valid JSON (${(e as Error).message}).`, { cause: e });
  }
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map) || Object.keys(map).length === 0) {
    throw new FgClipError(
      'WEIGHTS_MALFORMED',
      `${indexPath}: expected a non-empty "weight_map" object of tensor name → shard file, got ${JSON.stringify(map ?? null)}.`,
    );
  }
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const f of shards) {
    if (typeof f !== 'string') throw new FgClipError('WEIGHTS_MALFORMED', `${indexPath}: weight_map values must be file names (got ${JSON.stringify(f)}).`);
    assertRepoFile(f);
  }
  return (shards as string[]).sort();
}

/**
 * A model folder for `modelOrDir`: an existing local folder as is; otherwise a Hub repo id (optionally
 * `org/name@revision`) whose FG-CLIP files are fetched into the cache (config.json, preprocessor and tokenizer
 * files, then model.safetensors, else model.safetensors.index.json and its shards, else pytorch_model.bin).
 */
export async function resolveModelDir(modelOrDir: string, opts: HubOptions = {}): Promise<string> {
  if (existsSync(modelOrDir)) {
    if (statSync(modelOrDir).isDirectory()) return resolve(modelOrDir);
    throw new FgClipError(
      'MODEL_NOT_FOUND',
      `model ${JSON.stringify(modelOrDir)}: is a file (expected a model folder or a Hub repo id). Pass the folder that holds config.json.`,
    );
  }
  const ref = parseModelRef(modelOrDir);
  if (!isValidRepoId(ref.repo) || ref.revision === '') {
    throw new FgClipError(
      'MODEL_NOT_FOUND',
      `model ${JSON.stringify(modelOrDir)}: no such folder (${resolve(modelOrDir)}) and not a Hub repo id (expected "org/name" or "org/name@revision"). ` +
        'Check the path, or pass a repo id such as qihoo360/fg-clip-base.',
    );
  }
  const s = resolveSettings({ ...opts, revision: oneRevision(modelOrDir, ref.revision, opts.revision) });
  const run = new SnapshotRun({ s }, ref.repo, s.revision);
  try {
    await run.get(MODEL_CONFIG_FILE);
  } catch (e) {
    if (e instanceof FgClipError && e.code === 'MODEL_NOT_FOUND') {
      throw new FgClipError('MODEL_NOT_FOUND', `${e.message} (There is no local folder ${resolve(modelOrDir)} either.)`, { cause: e.cause });
    }
    throw e;
  }
  for (const f of MODEL_OPTIONAL_FILES) await run.getOptional(f);
  if ((await run.getOptional(SAFETENSORS_FILE)) === undefined) {
    const index = await run.getOptional(SAFETENSORS_INDEX_FILE);
    if (index !== undefined) {
      for (const shard of shardFiles(index.path)) await run.get(shard);
    } else if ((await run.getOptional(PYTORCH_FILE)) === undefined) {
      throw run.missing('weights', [SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, PYTORCH_FILE]);
    }
  }
  return run.dir();
}
