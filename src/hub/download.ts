/**
 * One file of a Hub repo into the cache, following huggingface_hub hf_hub_download:
 *  1. a full commit hash whose snapshot already has the file: no request at all;
 *  2. offline (HF_HUB_OFFLINE): refs/<revision> → snapshots/<commit>/<file>, or an OFFLINE error;
 *  3. HEAD resolve/<revision>/<file> → commit, etag, size, location; refs/<revision> ← commit;
 *  4. the snapshot pointer exists → done; the blob exists → link it; else download the blob, then link.
 * When the Hub cannot be reached (network errors or 5xx after the retries), the cached copy for refs/<revision>
 * is used if there is one, as huggingface_hub does, and the rest of the session stays cache-only.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { FgClipError } from '../errors.js';
import { downloadBlob } from './blob.js';
import { assertRepoFile, blobPath, cachedFile, isMarkedNoExist, linkPointer, markNoExist, pointerPath, readRef, storageFolder, writeRef } from './cache.js';
import { fetchMetadata, HubHttpError, isNotFound, RetryableError, where, type RequestContext } from './http.js';
import { assertRepoId, COMMIT_HASH_RE, DEFAULT_REVISION, hubFileUrl, resolveSettings, type HubOptions, type HubSettings } from './settings.js';

/** Settings plus what one snapshot learned along the way. */
export interface Session {
  s: HubSettings;
  /** Set once the Hub proved unreachable: later files come from the cache only. */
  unreachable?: FgClipError;
}

export interface FetchedFile {
  path: string;
  commit: string;
}

function isUnreachable(e: unknown): e is FgClipError {
  return e instanceof FgClipError && e.code === 'HUB_ERROR' && e.cause instanceof RetryableError;
}

/** A 404 known from a .no_exist marker (same shape as a live one, so fallbacks treat both alike). */
function notFoundCached(ctx: RequestContext, commit: string): FgClipError {
  return new FgClipError(
    'MODEL_NOT_FOUND',
    `${where(ctx)}: file not found in ${ctx.repo} at commit ${commit} (cached answer of an earlier request). ` +
      'Check the file name, or pass a path to a local model folder.',
    { cause: new HubHttpError(404, 'EntryNotFound', `.no_exist/${commit}/${ctx.file}`, commit) },
  );
}

export function downloadHint(repo: string, revision: string): string {
  return `\`fgclip download ${repo}${revision === DEFAULT_REVISION ? '' : `@${revision}`}\``;
}

function fromCache(sess: Session, storage: string, ctx: RequestContext): FetchedFile {
  const commit = readRef(storage, ctx.revision);
  if (commit !== undefined) {
    const path = cachedFile(storage, commit, ctx.file);
    if (path) return { path, commit };
    if (isMarkedNoExist(storage, commit, ctx.file)) throw notFoundCached(ctx, commit);
  }
  const expected = commit ? `snapshots/${commit}/${ctx.file}` : `refs/${ctx.revision}`;
  if (sess.s.offline) {
    throw new FgClipError(
      'OFFLINE',
      `${where(ctx)}: not in the cache and offline mode is on (expected ${expected} under ${storage}, found none). ` +
        `Run ${downloadHint(ctx.repo, ctx.revision)} while online (or unset HF_HUB_OFFLINE), or pass a local model folder.`,
    );
  }
  throw new FgClipError(
    'HUB_ERROR',
    `${where(ctx)}: the Hub could not be reached and the file is not in the cache (expected ${expected} under ${storage}). ` +
      'Check the network connection and HF_ENDPOINT, then try again.',
    { cause: sess.unreachable?.cause ?? sess.unreachable },
  );
}

export async function fetchFile(sess: Session, repo: string, file: string, revision: string): Promise<FetchedFile> {
  try {
    return await fetchFileInner(sess, repo, file, revision);
  } catch (e) {
    throw cacheIoError(sess.s.cacheDir, { repo, revision, file }, e);
  }
}

/** Node file-system errors (EACCES, ENOSPC, ...) from writing the cache, as FgClipErrors; others unchanged. */
function cacheIoError(cacheDir: string, ctx: RequestContext, e: unknown): unknown {
  if (e instanceof FgClipError || !(e instanceof Error) || typeof (e as { syscall?: unknown }).syscall !== 'string') return e;
  return new FgClipError(
    'HUB_ERROR',
    `${where(ctx)}: cannot write the cache at ${cacheDir} (${e.message}). Free disk space, fix the folder's permissions, or set HF_HUB_CACHE to a writable folder.`,
    { cause: e },
  );
}

async function fetchFileInner(sess: Session, repo: string, file: string, revision: string): Promise<FetchedFile> {
  assertRepoId(repo);
  assertRepoFile(file);
  const { s } = sess;
  const storage = storageFolder(s.cacheDir, repo);
  const ctx: RequestContext = { repo, revision, file };
  if (COMMIT_HASH_RE.test(revision)) {
    const path = cachedFile(storage, revision, file);
    if (path) return { path, commit: revision };
    if (isMarkedNoExist(storage, revision, file)) throw notFoundCached(ctx, revision);
  }
  if (s.offline || sess.unreachable) return fromCache(sess, storage, ctx);

  const url = hubFileUrl(repo, file, { endpoint: s.endpoint, revision });
  let meta;
  try {
    meta = await fetchMetadata(s, ctx, url);
  } catch (e) {
    if (isNotFound(e) && e.cause.errorCode === 'EntryNotFound' && e.cause.commit) {
      markNoExist(storage, e.cause.commit, file);
      writeRef(storage, revision, e.cause.commit);
    }
    if (isUnreachable(e)) {
      sess.unreachable = e;
      try {
        return fromCache(sess, storage, ctx);
      } catch (c) {
        throw isNotFound(c) ? c : e;
      }
    }
    throw e;
  }
  writeRef(storage, revision, meta.commit);
  const pointer = pointerPath(storage, meta.commit, file);
  if (existsSync(pointer)) return { path: pointer, commit: meta.commit };
  const blob = blobPath(storage, meta.etag);
  if (!existsSync(blob)) {
    mkdirSync(dirname(blob), { recursive: true });
    // bytes served at resolve/<revision>: fetch them at the commit instead, so a branch moving meanwhile cannot
    // swap the content under the etag we just learned
    const location = meta.location === url ? hubFileUrl(repo, file, { endpoint: s.endpoint, revision: meta.commit }) : meta.location;
    await downloadBlob(s, ctx, { ...meta, location }, blob);
  }
  linkPointer(blob, pointer);
  return { path: pointer, commit: meta.commit };
}

/** Like huggingface_hub hf_hub_download: the file's path inside snapshots/<commit>/. */
export async function downloadFile(repo: string, file: string, opts: HubOptions = {}): Promise<string> {
  const s = resolveSettings(opts);
  return (await fetchFile({ s }, repo, file, s.revision)).path;
}
