/**
 * The on-disk cache, laid out exactly as huggingface_hub lays it out (file_download.py, hf_hub_download), so
 * either tool reuses what the other fetched:
 *
 *   <cacheDir>/models--<org>--<name>/
 *     blobs/<etag>                        file content; etag = sha256 for LFS files, git blob sha1 otherwise
 *     refs/<revision>                     the commit hash a branch/tag resolved to (no trailing newline)
 *     snapshots/<commit>/<file>           relative symlink to ../../blobs/<etag> (a copy where symlinks fail)
 *     .no_exist/<commit>/<file>           empty marker: the file is absent at that commit
 *
 * Every write is temp-file + rename, so readers never see a half-written blob, ref or pointer, and two
 * processes writing the same entry at once both leave a valid result (the content is addressed by hash).
 */
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { FgClipError } from '../errors.js';
import { COMMIT_HASH_RE, defaultCacheDir } from './settings.js';

function repoFolderName(repo: string): string {
  return ['models', ...repo.split('/')].join('--');
}

export function storageFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, repoFolderName(repo));
}

/** Rejects file names that would escape the snapshot folder. */
export function assertRepoFile(file: string): void {
  const parts = file.split('/');
  if (file === '' || file.startsWith('/') || file.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new FgClipError('INPUT_INVALID', `hub: invalid file name (expected a relative path inside the repo, got ${JSON.stringify(file)}).`);
  }
}

export function uniqueSuffix(): string {
  return `${process.pid}.${randomBytes(4).toString('hex')}`;
}

/** Writes via a sibling temp file and an atomic rename. */
function writeFileAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${uniqueSuffix()}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export function pointerPath(storage: string, commit: string, file: string): string {
  return join(storage, 'snapshots', commit, ...file.split('/'));
}

export function blobPath(storage: string, etag: string): string {
  return join(storage, 'blobs', etag);
}

/** refs/<revision> → commit; a full commit hash is its own answer. Python writes the hash with no newline. */
export function readRef(storage: string, revision: string): string | undefined {
  if (COMMIT_HASH_RE.test(revision)) return revision;
  try {
    const commit = readFileSync(join(storage, 'refs', ...revision.split('/')), 'utf8').trim();
    return COMMIT_HASH_RE.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** huggingface_hub _cache_commit_hash_for_specific_revision: only rewritten when it changed. */
export function writeRef(storage: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const path = join(storage, 'refs', ...revision.split('/'));
  if (readRef(storage, revision) === commit) return;
  writeFileAtomic(path, commit);
}

export function markNoExist(storage: string, commit: string, file: string): void {
  const path = join(storage, '.no_exist', commit, ...file.split('/'));
  if (!existsSync(path)) writeFileAtomic(path, '');
}

export function isMarkedNoExist(storage: string, commit: string, file: string): boolean {
  return existsSync(join(storage, '.no_exist', commit, ...file.split('/')));
}

/** The snapshot path of `file` if present (following the symlink: a dangling pointer counts as absent). */
export function cachedFile(storage: string, commit: string, file: string): string | undefined {
  const p = pointerPath(storage, commit, file);
  return existsSync(p) ? p : undefined;
}

/**
 * Points snapshots/<commit>/<file> at the blob: a relative symlink (so a moved cache keeps working, as in
 * huggingface_hub _create_symlink), replaced atomically; where symlinks are refused (Windows without developer
 * mode, some network filesystems) the blob is copied instead.
 */
export function linkPointer(blob: string, pointer: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  const tmp = `${pointer}.tmp-${uniqueSuffix()}`;
  try {
    symlinkSync(relative(dirname(pointer), blob).split(sep).join('/'), tmp);
  } catch {
    copyFileSync(blob, tmp);
  }
  try {
    renameSync(tmp, pointer);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function listDir(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}

function listRefs(refsDir: string, prefix = ''): Array<{ name: string; commit: string }> {
  const out: Array<{ name: string; commit: string }> = [];
  for (const e of listDir(refsDir)) {
    const p = join(refsDir, e);
    if (statSync(p).isDirectory()) out.push(...listRefs(p, `${prefix}${e}/`));
    else {
      const commit = readFileSync(p, 'utf8').trim();
      if (COMMIT_HASH_RE.test(commit)) out.push({ name: `${prefix}${e}`, commit });
    }
  }
  return out;
}

export interface CachedModel {
  repo: string;
  /** Commit hashes with a snapshot folder. */
  revisions: string[];
  /** Branch/tag → commit, from refs/. */
  refs: Record<string, string>;
  /** Complete blobs only (partial downloads are not counted). */
  sizeBytes: number;
  /** The repo's cache folder (models--org--name). */
  path: string;
}

/** Models in the cache, like `huggingface-cli scan-cache` (huggingface_hub utils/_cache_manager.py). */
export function cachedModels(cacheDir: string = defaultCacheDir()): CachedModel[] {
  const out: CachedModel[] = [];
  for (const name of listDir(cacheDir).sort()) {
    if (!name.startsWith('models--')) continue;
    const path = join(cacheDir, name);
    if (!lstatSync(path).isDirectory()) continue;
    const repo = name.slice('models--'.length).split('--').join('/');
    const revisions = listDir(join(path, 'snapshots'))
      .filter((c) => COMMIT_HASH_RE.test(c))
      .sort();
    const refs: Record<string, string> = {};
    for (const r of listRefs(join(path, 'refs'))) refs[r.name] = r.commit;
    let sizeBytes = 0;
    for (const b of listDir(join(path, 'blobs'))) {
      if (b.includes('.')) continue; // <etag>.incomplete / temp files: etags are bare hex
      const st = lstatSync(join(path, 'blobs', b));
      if (st.isFile()) sizeBytes += st.size;
    }
    out.push({ repo, revisions, refs, sizeBytes, path });
  }
  return out;
}

/** Deletes a file, ignoring "already gone". */
export function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    /* absent or already claimed by another process */
  }
}
