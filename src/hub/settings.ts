/**
 * Where the Hugging Face Hub client reads its settings from: options first, then the same environment
 * variables huggingface_hub reads (huggingface_hub/constants.py and utils/_auth.py), so a cache and a login
 * made by Python are found by us and vice versa.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FgClipError } from '../errors.js';
import { assertRevision, DEFAULT_ENDPOINT, DEFAULT_REVISION, isValidRepoId, parseModelRef } from './repo-ref.js';

export { assertRevision, COMMIT_HASH_RE, DEFAULT_ENDPOINT, DEFAULT_REVISION, isValidRepoId, parseModelRef } from './repo-ref.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface HubOptions {
  /** Branch, tag or full 40-hex commit hash (default "main"). */
  revision?: string;
  /** Default: env HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default: env HF_TOKEN (or legacy HUGGING_FACE_HUB_TOKEN), else the file HF_TOKEN_PATH / $HF_HOME/token. */
  token?: string;
  /** Default: env HF_HUB_CACHE (or legacy HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Default: env HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set to 1/ON/YES/TRUE. */
  offline?: boolean;
  onProgress?: (p: { file: string; received: number; total?: number }) => void;
  fetchImpl?: typeof fetch;
  signal?: AbortSignal;
  /** Failed attempts allowed per request after the first (default 4). An attempt that received bytes resets the count. */
  retries?: number;
  /** First back-off delay in ms, doubled per failure and capped at 8 s (default 500). */
  retryDelayMs?: number;
  /** Environment to read defaults from (default process.env); lets callers and tests avoid mutating process.env. */
  env?: Env;
}

/** Settings after defaults are applied. */
export interface HubSettings {
  revision: string;
  endpoint: string;
  token: string | undefined;
  cacheDir: string;
  offline: boolean;
  onProgress: HubOptions['onProgress'];
  fetchImpl: typeof fetch;
  signal: AbortSignal | undefined;
  retries: number;
  retryDelayMs: number;
}

/** huggingface_hub constants._is_true. */
function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== '' ? v : undefined;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (constants.HF_HOME). */
export function hfHome(env: Env = process.env): string {
  const home = nonEmpty(env.HF_HOME);
  if (home) return expandHome(home);
  return join(expandHome(nonEmpty(env.XDG_CACHE_HOME) ?? '~/.cache'), 'huggingface');
}

export function defaultCacheDir(env: Env = process.env): string {
  const explicit = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  return explicit ? expandHome(explicit) : join(hfHome(env), 'hub');
}

export function defaultEndpoint(env: Env = process.env): string {
  return (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

export function isOfflineEnv(env: Env = process.env): boolean {
  return isTrue(env.HF_HUB_OFFLINE) || isTrue(env.TRANSFORMERS_OFFLINE);
}

/** The token huggingface_hub would use: env var first, then the file `huggingface-cli login` writes. */
export function defaultToken(env: Env = process.env): string | undefined {
  const fromEnv = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (fromEnv) return fromEnv.trim();
  const file = expandHome(nonEmpty(env.HF_TOKEN_PATH) ?? join(hfHome(env), 'token'));
  try {
    return nonEmpty(readFileSync(file, 'utf8'))?.trim();
  } catch {
    return undefined;
  }
}

export function resolveSettings(opts: HubOptions = {}): HubSettings {
  const env = opts.env ?? process.env;
  const revision = opts.revision ?? DEFAULT_REVISION;
  assertRevision(revision);
  const retries = opts.retries ?? 4;
  if (!Number.isInteger(retries) || retries < 0) {
    throw new FgClipError('INPUT_INVALID', `hub: invalid retries (expected an integer >= 0, got ${String(retries)}).`);
  }
  return {
    revision,
    endpoint: (opts.endpoint ?? defaultEndpoint(env)).replace(/\/+$/, ''),
    token: nonEmpty(opts.token) ?? defaultToken(env),
    cacheDir: opts.cacheDir ? expandHome(opts.cacheDir) : defaultCacheDir(env),
    offline: opts.offline ?? isOfflineEnv(env),
    onProgress: opts.onProgress,
    fetchImpl: opts.fetchImpl ?? globalThis.fetch,
    signal: opts.signal,
    retries,
    retryDelayMs: opts.retryDelayMs ?? 500,
  };
}

/** "org/name" or "name", optionally "@revision", that is not an existing local path. */
export function isRepoId(s: string): boolean {
  if (existsSync(s)) return false;
  const { repo, revision } = parseModelRef(s);
  return isValidRepoId(repo) && (revision === undefined || (revision !== '' && !/\s/.test(revision)));
}

export function assertRepoId(repo: string): void {
  if (!isValidRepoId(repo)) {
    throw new FgClipError(
      'INPUT_INVALID',
      `hub: invalid repo id (expected "org/name" of letters, digits, "-", "_", ".", got ${JSON.stringify(repo)}). ` +
        'Pass a Hugging Face repo id such as qihoo360/fg-clip-base, or a path to a local model folder.',
    );
  }
}

/** huggingface_hub hf_hub_url: the revision is fully percent-encoded, the file path keeps its "/". */
export function hubFileUrl(repo: string, file: string, opts: HubOptions = {}): string {
  assertRepoId(repo);
  const endpoint = (opts.endpoint ?? defaultEndpoint(opts.env ?? process.env)).replace(/\/+$/, '');
  const revision = opts.revision ?? DEFAULT_REVISION;
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;
}
