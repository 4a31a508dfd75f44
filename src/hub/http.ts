/**
 * HTTP against the Hub's `resolve` endpoint with fetch (Node 20's undici, or `fetchImpl`), redirects handled by
 * hand so that:
 *  - the Authorization header is dropped once a redirect leaves the Hub's origin (LFS files are served from a
 *    CDN on another host; huggingface_hub pops "authorization" for the LFS download too);
 *  - the metadata HEAD follows same-origin redirects (a renamed repo's relative 307, the Hub's resolve-cache)
 *    and stops at a redirect to another origin or one carrying X-Linked-Etag (an LFS file: that response holds
 *    X-Repo-Commit, X-Linked-Etag, X-Linked-Size, and its Location is where the bytes are), like
 *    huggingface_hub get_hf_file_metadata (which follows relative redirects only);
 * and with bounded retries with exponential back-off on network errors, 408, 429 and 5xx — except when the network
 * is plainly absent (the Hub's name does not resolve, or there is no route to it): that fails at once (NetworkDownError,
 * still a "Hub unreachable" for the cache fallback of download.ts), instead of ~8 s of silent back-off.
 */
import { FgClipError } from '../errors.js';
import type { HubSettings } from './settings.js';
import { COMMIT_HASH_RE } from './settings.js';

const MAX_REDIRECTS = 10;
const MAX_DELAY_MS = 8000;
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const USER_AGENT = `fgclip/0.1.0; node/${process.versions.node}`;

/** Where a request was made for, to write errors that name the repo, revision and file. */
export interface RequestContext {
  repo: string;
  revision: string;
  file: string;
}

/** The Hub's answer when it was an HTTP error; carried as `cause` of the FgClipError. */
export class HubHttpError extends Error {
  override readonly name = 'HubHttpError';
  constructor(
    readonly status: number,
    /** The Hub's X-Error-Code header: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo, ... */
    readonly errorCode: string | undefined,
    readonly url: string,
    /** X-Repo-Commit when the Hub sent it (it does on EntryNotFound, which lets us cache the absence). */
    readonly commit: string | undefined,
  ) {
    super(`HTTP ${status}${errorCode ? ` (${errorCode})` : ''} for ${url}`);
  }
}

/** A failure worth retrying (network error, cut connection, 408/429/5xx). */
export class RetryableError extends Error {
  override readonly name: string = 'RetryableError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Error codes of a connection attempt that say the network (or DNS) is absent rather than busy: retrying in the
 * next seconds would give the same answer. (A refused connection is still retried: a local endpoint restarting.)
 */
const NETWORK_DOWN_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'ENETUNREACH', 'EHOSTUNREACH', 'ENONET']);

/** A request that failed because the network is plainly absent: not retried. */
export class NetworkDownError extends RetryableError {
  override readonly name = 'NetworkDownError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, undefined, options);
  }
}

/** The system error code under a fetch failure (undici: TypeError "fetch failed" → cause.code). */
function networkErrorCode(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 4; c = c.cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function isAbort(e: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError'));
}

export function where(ctx: RequestContext): string {
  return `hub ${ctx.repo}@${ctx.revision}: ${ctx.file}`;
}

export function baseHeaders(s: HubSettings): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity' };
  if (s.token) h.authorization = `Bearer ${s.token}`;
  return h;
}

/** FgClipError for a non-2xx final answer. */
export function httpError(s: HubSettings, ctx: RequestContext, res: Response, url: string, tokenSent: boolean): FgClipError {
  const errorCode = res.headers.get('x-error-code') ?? undefined;
  const commit = res.headers.get('x-repo-commit') ?? undefined;
  const cause = new HubHttpError(res.status, errorCode, url, commit && COMMIT_HASH_RE.test(commit) ? commit : undefined);
  const w = where(ctx);
  if (res.status === 401 || res.status === 403) {
    return new FgClipError(
      'HUB_AUTH',
      `${w}: access denied by ${s.endpoint} (expected 200, got HTTP ${res.status}${errorCode ? ` ${errorCode}` : ''}; ` +
        `${tokenSent ? 'a token was sent' : 'no token was sent'}). The repo may be private or gated (or may not exist): ` +
        'set HF_TOKEN (or run `huggingface-cli login`) with a token that can read it, accept its terms on the Hub if gated, and check the id.',
      { cause },
    );
  }
  if (res.status === 404) {
    const what =
      errorCode === 'RevisionNotFound'
        ? `revision "${ctx.revision}" not found in ${ctx.repo}`
        : errorCode === 'EntryNotFound'
          ? `file not found in ${ctx.repo}@${ctx.revision}`
          : errorCode === 'RepoNotFound'
            ? `repo ${ctx.repo} not found`
            : `repo, revision or file not found`;
    return new FgClipError(
      'MODEL_NOT_FOUND',
      `${w}: ${what} on ${s.endpoint} (expected 200, got HTTP 404). Check the repo id (e.g. qihoo360/fg-clip-base) and revision, ` +
        'or pass a path to a local model folder.',
      { cause },
    );
  }
  return new FgClipError('HUB_ERROR', `${w}: the Hub answered HTTP ${res.status} for ${url} (expected 200). Try again later.`, { cause });
}

/** Entry-level "not found" (the file is absent; the repo may well exist). */
export function isNotFound(e: unknown): e is FgClipError & { cause: HubHttpError } {
  return e instanceof FgClipError && e.code === 'MODEL_NOT_FOUND' && e.cause instanceof HubHttpError && e.cause.status === 404;
}

function retryAfterMs(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (v === null) return undefined;
  const secs = Number(v);
  return Number.isFinite(secs) && secs >= 0 ? secs * 1000 : undefined;
}

export interface FollowResult {
  res: Response;
  /** The URL that produced `res`. */
  url: string;
  /** Whether `res` was requested with the Authorization header. */
  tokenSent: boolean;
}

/**
 * One request, redirects followed by hand. With `stopAtMetadata`, a 3xx to another origin or carrying
 * X-Linked-Etag is returned as is (its Location is where the bytes are). A network error or a 408/429/5xx becomes a RetryableError.
 */
export async function requestFollow(
  s: HubSettings,
  method: 'GET' | 'HEAD',
  startUrl: string,
  headers: Record<string, string>,
  stopAtMetadata = false,
): Promise<FollowResult> {
  let url = startUrl;
  const h = { ...headers };
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let res: Response;
    try {
      res = await s.fetchImpl(url, { method, headers: h, redirect: 'manual', signal: s.signal });
    } catch (e) {
      if (isAbort(e, s.signal)) throw e;
      const code = networkErrorCode(e);
      if (code !== undefined && NETWORK_DOWN_CODES.has(code)) {
        const host = new URL(url).host;
        const why =
          code.startsWith('EAI_') || code === 'ENOTFOUND' ? `the name ${host} does not resolve (no network, or no DNS)` : `no route to ${host} (no network)`;
        throw new NetworkDownError(`network error for ${method} ${url}: ${why}; ${describe(e)}`, code, { cause: e });
      }
      throw new RetryableError(`network error for ${method} ${url}: ${describe(e)}`, undefined, { cause: e });
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location !== null) {
      const next = new URL(location, url);
      const crossOrigin = next.origin !== new URL(url).origin;
      if (stopAtMetadata && (crossOrigin || res.headers.has('x-linked-etag'))) return { res, url, tokenSent: 'authorization' in h };
      await res.body?.cancel();
      if (crossOrigin) delete h.authorization;
      url = next.href;
      continue;
    }
    if (RETRY_STATUS.has(res.status)) {
      await res.body?.cancel();
      throw new RetryableError(`HTTP ${res.status} for ${method} ${url}`, retryAfterMs(res));
    }
    return { res, url, tokenSent: 'authorization' in h };
  }
  throw new FgClipError('HUB_ERROR', `hub: too many redirects (expected at most ${MAX_REDIRECTS}) starting at ${startUrl}.`);
}

export function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (e instanceof RetryableError) return e.message; // already describes its cause
  const c = e.cause;
  if (c instanceof Error) {
    const code = (c as { code?: unknown }).code;
    return `${e.message} (${typeof code === 'string' ? `${code}: ` : ''}${c.message || c.name})`;
  }
  return e.message;
}

export function backoffMs(s: HubSettings, failures: number, hinted?: number): number {
  const exp = Math.min(MAX_DELAY_MS, s.retryDelayMs * 2 ** Math.max(0, failures - 1));
  return hinted !== undefined ? Math.min(MAX_DELAY_MS, Math.max(hinted, exp)) : exp;
}

export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** FgClipError for giving up (retries exhausted) or for an abort. */
export function gaveUp(ctx: RequestContext, e: unknown, attempts: number, signal: AbortSignal | undefined): FgClipError {
  if (e instanceof FgClipError) return e;
  if (isAbort(e, signal)) return new FgClipError('HUB_ERROR', `${where(ctx)}: download aborted. Run again to resume.`, { cause: e });
  if (e instanceof NetworkDownError) {
    return new FgClipError(
      'HUB_ERROR',
      `${where(ctx)}: the Hub cannot be reached (${e.message}; not retried). ` +
        'Check the network connection (and HF_ENDPOINT), or set HF_HUB_OFFLINE=1 to use the cache only.',
      { cause: e },
    );
  }
  return new FgClipError(
    'HUB_ERROR',
    `${where(ctx)}: no answer from the Hub after ${attempts} attempt${attempts === 1 ? '' : 's'} (last error: ${describe(e)}). ` +
      'Check the network connection (and HF_ENDPOINT), or set HF_HUB_OFFLINE=1 to use the cache only.',
    { cause: e },
  );
}

/** Runs `fn` again after RetryableErrors, at most `s.retries` times, with exponential back-off. */
async function withRetry<T>(s: HubSettings, ctx: RequestContext, fn: () => Promise<T>): Promise<T> {
  for (let failures = 0; ; ) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof RetryableError) || e instanceof NetworkDownError || failures >= s.retries) throw gaveUp(ctx, e, failures + 1, s.signal);
      failures++;
      try {
        await sleep(backoffMs(s, failures, e.retryAfterMs), s.signal);
      } catch (abort) {
        throw gaveUp(ctx, abort, failures, s.signal);
      }
    }
  }
}

export interface FileMetadata {
  commit: string;
  /** Blob name: the sha256 for LFS files, the git blob sha1 otherwise. */
  etag: string;
  /** Size of the real file (X-Linked-Size for LFS, Content-Length otherwise), when the Hub sent it. */
  size: number | undefined;
  /** Where the bytes are (the CDN URL for LFS files). */
  location: string;
}

/** huggingface_hub _normalize_etag, plus the weak prefix. */
function normalizeEtag(v: string | null): string | undefined {
  if (v === null) return undefined;
  const e = v.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return e === '' ? undefined : e;
}

/** HEAD on resolve/<revision>/<file>: commit, etag, size and download location. */
export async function fetchMetadata(s: HubSettings, ctx: RequestContext, url: string): Promise<FileMetadata> {
  const { res, url: finalUrl, tokenSent } = await withRetry(s, ctx, () => requestFollow(s, 'HEAD', url, baseHeaders(s), true));
  if (res.status >= 400) throw httpError(s, ctx, res, finalUrl, tokenSent);
  const commit = res.headers.get('x-repo-commit');
  const etag = normalizeEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
  if (commit === null || !COMMIT_HASH_RE.test(commit) || etag === undefined || !/^[\w-]+$/.test(etag)) {
    throw new FgClipError(
      'HUB_ERROR',
      `${where(ctx)}: ${finalUrl} did not answer like a Hugging Face Hub (expected an X-Repo-Commit commit hash and an ETag, ` +
        `got ${JSON.stringify(commit)} and ${JSON.stringify(etag ?? null)}). Check HF_ENDPOINT.`,
    );
  }
  const sizeHeader = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
  const location = res.status >= 300 && res.status < 400 ? new URL(res.headers.get('location') ?? '', finalUrl).href : finalUrl;
  return { commit, etag, size, location };
}
