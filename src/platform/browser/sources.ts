/**
 * Model files for the worker, from the Hub, a URL folder, or the user's Files/Blobs, cached in OPFS.
 *  - Hub (`org/name`, `@revision`): the revision is resolved to a commit by the Hub API
 *    (`/api/models/{repo}/revision/{revision}?blobs=true`, which also gives every file's size and, for LFS files,
 *    sha256 — a page cannot read the X-Linked-Etag of a redirected resolve answer); files are then fetched at that
 *    commit (`resolve/{commit}/{file}`), so a branch moving mid-download cannot mix versions, as in the Node client.
 *    A full 40-hex commit already in OPFS needs no request; when the Hub cannot be reached, the commit remembered
 *    for that revision is used (offline second visit).
 *  - URL folder: files fetched relative to it, cache-first (an OPFS copy is used without asking the server); sizes
 *    from Content-Length, sha256 from the folder's fgclip-export.json when it has one, else computed and recorded.
 *  - Files/Blobs: used in place (nothing copied into OPFS).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { FgClipError } from '../../errors.js';
import { COMMIT_HASH_RE } from '../../hub/repo-ref.js';
import type { SourceSpec } from './protocol.js';
import { download, NetworkError, readRef, Space, writeRef, type Expected, type ProgressFn } from './store.js';

export interface FileProvider {
  /** for messages */
  readonly label: string;
  /** stable identity of the model content (graph-cache key); undefined when unknown */
  identity(): Promise<string | undefined>;
  /** a file, or undefined when the source does not have it */
  get(file: string, expected?: Expected): Promise<Blob | undefined>;
  /** what the load should report in info.warnings */
  readonly notes?: string[];
  /** called once the sessions exist (or the load failed): drops temporary files */
  release?(): Promise<void>;
}

const hex = (s: string) => bytesToHex(sha256(utf8ToBytes(s))).slice(0, 32);

interface RevisionInfo {
  readonly sha: string;
  readonly siblings: readonly { readonly rfilename: string; readonly size?: number; readonly lfs?: { readonly sha256: string; readonly size: number } }[];
}

class HubProvider implements FileProvider {
  readonly label: string;
  private info?: RevisionInfo;
  private space?: Space;
  private offline = false;

  constructor(
    private readonly s: Extract<SourceSpec, { kind: 'hub' }>,
    private readonly cache: boolean,
    private readonly progress: ProgressFn,
  ) {
    this.label = `${s.repo}@${s.revision}`;
  }

  private headers(): Record<string, string> {
    return this.s.token ? { authorization: `Bearer ${this.s.token}` } : {};
  }

  private async init(): Promise<void> {
    if (this.space) return;
    if (!this.cache)
      throw new FgClipError(
        'INPUT_INVALID',
        `${this.label}: Hub models need the OPFS cache (cache: true): their weights are streamed to disk, never held in memory`,
      );
    const refKey = `${this.s.endpoint} ${this.s.repo} ${this.s.revision}`;
    let commit = COMMIT_HASH_RE.test(this.s.revision) ? this.s.revision : undefined;
    if (commit) {
      const sp = await Space.open(['hub', hex(`${this.s.endpoint} ${this.s.repo}`), commit]);
      const info = await sp.get('.revision-info.json');
      if (info) {
        this.info = JSON.parse(await info.text()) as RevisionInfo;
        this.space = sp;
        return;
      }
    }
    const url = `${this.s.endpoint}/api/models/${this.s.repo}/revision/${encodeURIComponent(this.s.revision)}?blobs=true`;
    let res: Response | undefined;
    try {
      res = await fetch(url, { headers: this.headers(), cache: 'no-store' });
    } catch {
      res = undefined; // unreachable: use what OPFS remembers
    }
    if (res && !res.ok && res.status < 500) {
      const code = res.status === 401 || res.status === 403 ? 'HUB_AUTH' : 'MODEL_NOT_FOUND';
      throw new FgClipError(
        code,
        `hub ${this.label}: ${res.status} ${res.headers.get('x-error-code') ?? res.statusText} (${url}). Check the repo id and revision${code === 'HUB_AUTH' ? ', and pass token for a private repo' : ''}.`,
      );
    }
    if (res?.ok) {
      const info = (await res.json()) as RevisionInfo;
      if (!info || typeof info.sha !== 'string' || !COMMIT_HASH_RE.test(info.sha) || !Array.isArray(info.siblings))
        throw new FgClipError('HUB_ERROR', `hub ${this.label}: ${url} did not answer like the Hugging Face Hub API (expected sha and siblings)`);
      commit = info.sha;
      this.info = info;
      this.space = await Space.open(['hub', hex(`${this.s.endpoint} ${this.s.repo}`), commit]);
      await this.space.putBytes(
        '.revision-info.json',
        utf8ToBytes(JSON.stringify({ sha: info.sha, siblings: info.siblings.map((x) => ({ rfilename: x.rfilename, size: x.size, lfs: x.lfs })) })),
      );
      await writeRef(refKey, commit);
      return;
    }
    commit ??= await readRef(refKey);
    const sp = commit ? await Space.open(['hub', hex(`${this.s.endpoint} ${this.s.repo}`), commit]) : undefined;
    const info = sp && (await sp.get('.revision-info.json'));
    if (!sp || !info)
      throw new FgClipError(
        'OFFLINE',
        `hub ${this.label}: the Hub could not be reached (${res ? `status ${res.status}` : 'network error'}) and this model is not in the browser's cache. Load it once while online.`,
      );
    this.offline = true;
    this.info = JSON.parse(await info.text()) as RevisionInfo;
    this.space = sp;
  }

  async identity(): Promise<string> {
    await this.init();
    return `hub ${this.s.endpoint} ${this.s.repo} ${this.info?.sha}`;
  }

  async get(file: string): Promise<Blob | undefined> {
    await this.init();
    const sp = this.space as Space;
    const sib = this.info?.siblings.find((x) => x.rfilename === file);
    if (!sib) return undefined;
    const have = await sp.get(file);
    if (have) {
      this.progress({ file, phase: 'cached', loaded: have.size, total: have.size });
      return have;
    }
    if (this.offline) throw new FgClipError('OFFLINE', `hub ${this.label}: ${file} is not in the browser's cache and the Hub cannot be reached`);
    const url = `${this.s.endpoint}/${this.s.repo}/resolve/${this.info?.sha}/${file.split('/').map(encodeURIComponent).join('/')}`;
    return download(sp, {
      url,
      file,
      expected: { size: sib.lfs?.size ?? sib.size, sha256: sib.lfs?.sha256 },
      headers: this.headers(),
      onProgress: this.progress,
    });
  }
}

class UrlProvider implements FileProvider {
  readonly label: string;
  readonly notes: string[] = [];
  private space?: Space;
  /** cache: false — weight files go to a temporary OPFS space (null: none to be had), removed by release() */
  private temp?: Space | null;
  constructor(
    private readonly base: string,
    private readonly cache: boolean,
    private readonly progress: ProgressFn,
  ) {
    this.label = base;
  }

  /**
   * Content identity (the graph-cache key): the sha256 of the weight files. They are fetched here when OPFS does not
   * have them yet (the graph build reads them next anyway), so the first visit already has a key and stores the
   * graphs it builds; a second visit finds them without the network.
   */
  async identity(): Promise<string | undefined> {
    const sp = await this.open();
    if (!sp) return undefined;
    const shaOf = async (f: string) => ((await this.get(f)) ? (await sp.metaOf(f))?.sha256 : undefined);
    const single = await shaOf('model.safetensors');
    if (single) return `url ${this.base} model.safetensors ${single}`;
    const index = await this.get('model.safetensors.index.json');
    const indexSha = index && (await sp.metaOf('model.safetensors.index.json'))?.sha256;
    if (!index || !indexSha) return undefined;
    let map: unknown;
    try {
      map = (JSON.parse(await index.text()) as { weight_map?: unknown }).weight_map;
    } catch {
      return undefined; // the build reports the malformed index
    }
    if (!map || typeof map !== 'object') return undefined;
    const shards: string[] = [];
    for (const f of [...new Set(Object.values(map as Record<string, unknown>))].sort()) {
      const sha = typeof f === 'string' && !f.includes('/') && !f.includes('..') ? await shaOf(f) : undefined;
      if (!sha) return undefined;
      shards.push(`${f} ${sha}`);
    }
    return `url ${this.base} model.safetensors.index.json ${indexSha} ${shards.join(' ')}`;
  }

  async release(): Promise<void> {
    await this.temp?.remove();
    this.temp = undefined;
  }

  private async open(): Promise<Space | undefined> {
    if (!this.cache) return undefined;
    this.space ??= await Space.open(['url', hex(this.base)]);
    return this.space;
  }

  async get(file: string, expected: Expected = {}): Promise<Blob | undefined> {
    const url = new URL(file.split('/').map(encodeURIComponent).join('/'), this.base).href;
    const sp = await this.open();
    if (!sp && /\.(safetensors|bin)$/.test(file)) {
      // cache: false — a weight file still streams to disk (a temporary space), so it is never held whole in memory
      if (this.temp === undefined) this.temp = await Space.openTemp().catch(() => null);
      if (this.temp) {
        try {
          return await download(this.temp, { url, file, expected, onProgress: this.progress });
        } catch (e) {
          if (e instanceof FgClipError && e.code === 'MODEL_NOT_FOUND') return undefined;
          if (!(e instanceof FgClipError && e.code === 'STORAGE_QUOTA')) throw e;
          await this.temp.drop(file);
          this.notes.push(`not enough browser storage for a temporary copy of ${file} (cache: false): it was downloaded into memory`);
        }
      }
    }
    if (!sp) {
      const res = await fetch(url).catch((e: unknown) => {
        throw new FgClipError('HUB_ERROR', `${url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      });
      if (res.status === 404) return undefined;
      if (!res.ok) throw new FgClipError('HUB_ERROR', `${url}: ${res.status} ${res.statusText}`);
      return res.blob();
    }
    const have = await sp.get(file);
    if (have && (expected.sha256 === undefined || (await sp.metaOf(file))?.sha256 === expected.sha256)) {
      this.progress({ file, phase: 'cached', loaded: have.size, total: have.size });
      return have;
    }
    try {
      return await download(sp, { url, file, expected, hash: /\.(safetensors|json|bin|onnx)$/.test(file), onProgress: this.progress });
    } catch (e) {
      if (e instanceof FgClipError && e.code === 'MODEL_NOT_FOUND') {
        await sp.markAbsent(file); // an offline visit then knows the folder has no such file
        return undefined;
      }
      // unreachable server: a file the folder was seen without is still absent (e.g. fgclip-export.json of a checkpoint)
      if (e instanceof FgClipError && e.cause instanceof NetworkError && (await sp.isAbsent(file))) return undefined;
      throw e;
    }
  }
}

class BlobProvider implements FileProvider {
  readonly label = 'files';
  constructor(private readonly files: Readonly<Record<string, Blob>>) {}

  async identity(): Promise<string | undefined> {
    const w = this.files['model.safetensors'];
    if (w instanceof File) return `file ${w.name} ${w.size} ${w.lastModified}`;
    return undefined;
  }

  async get(file: string): Promise<Blob | undefined> {
    return this.files[file];
  }
}

export function provider(spec: SourceSpec, cache: boolean, progress: ProgressFn): FileProvider {
  switch (spec.kind) {
    case 'hub':
      return new HubProvider(spec, cache, progress);
    case 'url':
      return new UrlProvider(spec.base, cache, progress);
    case 'files':
      return new BlobProvider(spec.files);
  }
}
