/**
 * A local stand-in for the Hugging Face Hub's `resolve` endpoint, for tests (this folder's and the CLI's).
 * It answers like huggingface.co does:
 *  - GET|HEAD /{repo}/resolve/{revision}/{file} with X-Repo-Commit;
 *  - small ("git") files: 200, ETag = git blob sha1, Content-Length, Range → 206;
 *  - LFS files (*.safetensors, *.bin, ... or > 10 MB): 302 to a CDN URL with X-Linked-Etag = sha256 and
 *    X-Linked-Size; the CDN is a second server on another port (another origin, so Authorization must not
 *    reach it), or a path on the same server with `cdn: 'same-host'`;
 *  - GET /api/models/{repo}/revision/{revision}?blobs=true: { id, sha, siblings: [{ rfilename, size, blobId, lfs? }] }
 *    (what a browser uses: redirected responses hide X-Linked-Etag from page scripts);
 *  - 404 with X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound (the latter with X-Repo-Commit),
 *    401 RepoNotFound for a private repo without its token, a relative 307 for a renamed repo;
 * plus fault injection (`faults`, mutable while running) and a log of every request (`requests`).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

export interface MockRepoSpec {
  /** "org/name" or "name". */
  id: string;
  /** File name (may contain "/") → content. */
  files?: Record<string, Buffer | string>;
  /** Or: serve every file under this folder (read once at start). */
  dir?: string;
  /** Commit hash of "main" (default: sha1 of the id). */
  commit?: string;
  /** More branches/tags → commit hash; all serve the same files. */
  refs?: Record<string, string>;
  /** Private repo: requests need "Authorization: Bearer <token>". */
  token?: string;
  /** Which files are stored in LFS (default: weight-like extensions or > 10 MB). */
  lfs?: (name: string, size: number) => boolean;
}

/** Each fault applies `times` times (default 1; Infinity for always) to the requests it matches, then is removed. */
export type MockFault =
  | { kind: 'cut'; file: string; afterBytes: number; times?: number } // body stops after afterBytes, socket closed
  | { kind: 'corrupt'; file: string; times?: number } // one byte of the body flipped, headers intact
  | { kind: 'short'; file: string; times?: number } // body one byte short, with a matching Content-Length
  | { kind: 'ignore-range'; file: string; times?: number } // answers 200 with the whole file to a Range request
  | { kind: 'status'; status: number; file?: string; method?: 'GET' | 'HEAD'; server?: 'hub' | 'cdn'; times?: number }
  | { kind: 'reset'; file?: string; method?: 'GET' | 'HEAD'; server?: 'hub' | 'cdn'; times?: number }; // socket destroyed, no answer

export interface MockRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface MockHubOptions {
  repos: MockRepoSpec[];
  /** old id → new id: answered with a relative 307, as the Hub does for renamed repos. */
  renames?: Record<string, string>;
  cdn?: 'other-host' | 'same-host';
  /**
   * Git files answered with a relative 307 to /api/resolve-cache/models/{repo}/{commit}/{file} (carrying
   * X-Repo-Commit but no ETag), which then serves them, as huggingface.co does for non-LFS files.
   */
  gitRedirect?: boolean;
  /** answer browsers from other origins: CORS headers (and preflights) and Cross-Origin-Resource-Policy */
  cors?: boolean;
  faults?: MockFault[];
}

export interface MockHub {
  url: string;
  cdnUrl: string;
  requests: MockRequest[];
  faults: MockFault[];
  /** The served file with its hashes (for assertions). */
  file(repo: string, name: string): MockFile;
  commitOf(repo: string, revision?: string): string;
  close(): Promise<void>;
}

export interface MockFile {
  name: string;
  content: Buffer;
  lfs: boolean;
  sha256: string;
  gitSha1: string;
}

interface Repo {
  spec: MockRepoSpec;
  commit: string;
  files: Map<string, MockFile>;
}

const sha1 = (b: Buffer | string): string => createHash('sha1').update(b).digest('hex');
const defaultLfs = (name: string, size: number): boolean => /\.(safetensors|bin|pt|pth|onnx|msgpack|h5|ckpt)$/.test(name) || size > 10_000_000;

function readDirFiles(dir: string, root = dir, out: Record<string, Buffer> = {}): Record<string, Buffer> {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) readDirFiles(p, root, out);
    else out[relative(root, p).split(sep).join('/')] = readFileSync(p);
  }
  return out;
}

function loadRepo(spec: MockRepoSpec): Repo {
  const raw = { ...(spec.dir ? readDirFiles(spec.dir) : {}), ...(spec.files ?? {}) };
  const files = new Map<string, MockFile>();
  for (const [name, v] of Object.entries(raw)) {
    const content = typeof v === 'string' ? Buffer.from(v) : v;
    files.set(name, {
      name,
      content,
      lfs: (spec.lfs ?? defaultLfs)(name, content.length),
      sha256: createHash('sha256').update(content).digest('hex'),
      gitSha1: sha1(Buffer.concat([Buffer.from(`blob ${content.length}\0`), content])),
    });
  }
  return { spec, commit: spec.commit ?? sha1(`mock:${spec.id}`), files };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

export async function startMockHub(opts: MockHubOptions): Promise<MockHub> {
  const repos = new Map(opts.repos.map((r) => [r.id, loadRepo(r)]));
  const requests: MockRequest[] = [];
  const faults: MockFault[] = [...(opts.faults ?? [])];

  /** The first matching fault, consumed. */
  function takeFault(pred: (f: MockFault) => boolean): MockFault | undefined {
    const i = faults.findIndex(pred);
    if (i < 0) return undefined;
    const f = faults[i];
    const left = (f.times ?? 1) - 1;
    if (left <= 0) faults.splice(i, 1);
    else faults[i] = { ...f, times: left };
    return f;
  }

  function connectionFault(server: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse, file: string): boolean {
    const f = takeFault(
      (x) =>
        (x.kind === 'status' || x.kind === 'reset') &&
        (x.file === undefined || x.file === file) &&
        (x.method === undefined || x.method === req.method) &&
        (x.server === undefined || x.server === server),
    );
    if (f?.kind === 'reset') {
      req.socket.destroy();
      return true;
    }
    if (f?.kind === 'status') {
      res.writeHead(f.status, { 'content-type': 'text/plain' }).end(`injected ${f.status}`);
      return true;
    }
    return false;
  }

  function serveBytes(req: IncomingMessage, res: ServerResponse, file: MockFile, extra: Record<string, string>): void {
    const size = file.content.length;
    const headers: Record<string, string | number> = { ...extra, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ignoreRange = range !== null && takeFault((f) => f.kind === 'ignore-range' && f.file === file.name) !== undefined;
    let start = 0;
    let end = size; // exclusive
    let status = 200;
    if (range && !ignoreRange) {
      start = Number(range[1]);
      end = range[2] === '' ? size : Math.min(size, Number(range[2]) + 1);
      if (start >= size || start >= end) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end - 1}/${size}`;
    }
    let body = file.content.subarray(start, end);
    const fault = req.method === 'GET' ? takeFault((f) => (f.kind === 'cut' || f.kind === 'corrupt' || f.kind === 'short') && f.file === file.name) : undefined;
    if (fault?.kind === 'corrupt') {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    } else if (fault?.kind === 'short') {
      body = body.subarray(0, body.length - 1);
    }
    headers['content-length'] = body.length;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
    } else if (fault?.kind === 'cut') {
      res.write(body.subarray(0, fault.afterBytes), () => req.socket.destroy());
    } else {
      res.end(body);
    }
  }

  function lfsBySha(sha: string): MockFile | undefined {
    for (const r of repos.values()) for (const f of r.files.values()) if (f.lfs && f.sha256 === sha) return f;
    return undefined;
  }

  function serveCdn(server: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse, sha: string): void {
    const file = lfsBySha(sha);
    if (!file) {
      res.writeHead(404).end('no such object');
      return;
    }
    if (connectionFault(server, req, res, file.name)) return;
    serveBytes(req, res, file, { etag: `"${file.sha256}"` });
  }

  let cdnBase = '';
  const cdnPath = (sha: string, name: string): string => `/lfs/${sha}?response-content-disposition=${encodeURIComponent(`attachment; filename="${name}";`)}`;

  function serveHub(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/lfs/')) {
      serveCdn('hub', req, res, url.pathname.slice('/lfs/'.length));
      return;
    }
    const cached = /^\/api\/resolve-cache\/models\/(.+?)\/([0-9a-f]{40})\/(.+)$/.exec(url.pathname);
    if (cached) {
      const file = repos.get(cached[1])?.files.get(cached[3].split('/').map(decodeURIComponent).join('/'));
      if (!file) res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
      else serveBytes(req, res, file, { 'x-repo-commit': cached[2], etag: `"${file.gitSha1}"` });
      return;
    }
    const api = /^\/api\/models\/(.+?)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api && req.method === 'GET') {
      serveRevisionInfo(req, res, api[1], decodeURIComponent(api[2]));
      return;
    }
    const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end('Not found');
      return;
    }
    const [, repoId, revRaw, fileRaw] = m;
    const revision = decodeURIComponent(revRaw);
    const fileName = fileRaw.split('/').map(decodeURIComponent).join('/');
    const renamed = opts.renames?.[repoId];
    if (renamed !== undefined) {
      res.writeHead(307, { location: `/${renamed}/resolve/${revRaw}/${fileRaw}` }).end();
      return;
    }
    const repo = repos.get(repoId);
    if (!repo) {
      res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end('Repository not found');
      return;
    }
    if (repo.spec.token !== undefined && req.headers.authorization !== `Bearer ${repo.spec.token}`) {
      res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end('Invalid username or password.');
      return;
    }
    const refs: Record<string, string> = { main: repo.commit, ...(repo.spec.refs ?? {}) };
    const commit = refs[revision] ?? (Object.values(refs).includes(revision) ? revision : undefined);
    if (commit === undefined) {
      res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end('Revision not found');
      return;
    }
    const file = repo.files.get(fileName);
    if (!file) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': commit }).end('Entry not found');
      return;
    }
    if (connectionFault('hub', req, res, file.name)) return;
    if (file.lfs) {
      res
        .writeHead(302, {
          location: `${cdnBase}${cdnPath(file.sha256, file.name)}`,
          'x-repo-commit': commit,
          'x-linked-etag': `"${file.sha256}"`,
          'x-linked-size': String(file.content.length),
          etag: `"${sha1(`version https://git-lfs.github.com/spec/v1\noid sha256:${file.sha256}\nsize ${file.content.length}\n`)}"`,
        })
        .end();
      return;
    }
    if (opts.gitRedirect) {
      res.writeHead(307, { location: `/api/resolve-cache/models/${repoId}/${commit}/${fileRaw}`, 'x-repo-commit': commit }).end();
      return;
    }
    serveBytes(req, res, file, { 'x-repo-commit': commit, etag: `"${file.gitSha1}"` });
  }

  function serveRevisionInfo(req: IncomingMessage, res: ServerResponse, repoId: string, revision: string): void {
    const repo = repos.get(repoId);
    if (!repo) {
      res.writeHead(404, { 'x-error-code': 'RepoNotFound', 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
      return;
    }
    if (repo.spec.token !== undefined && req.headers.authorization !== `Bearer ${repo.spec.token}`) {
      res.writeHead(401, { 'x-error-code': 'RepoNotFound', 'content-type': 'application/json' }).end('{"error":"Invalid username or password."}');
      return;
    }
    if (connectionFault('hub', req, res, '/api')) return;
    const refs: Record<string, string> = { main: repo.commit, ...(repo.spec.refs ?? {}) };
    const commit = refs[revision] ?? (Object.values(refs).includes(revision) ? revision : undefined);
    if (commit === undefined) {
      res.writeHead(404, { 'x-error-code': 'RevisionNotFound', 'content-type': 'application/json' }).end('{"error":"Invalid rev id"}');
      return;
    }
    const siblings = [...repo.files.values()].map((f) => ({
      rfilename: f.name,
      size: f.content.length,
      blobId: f.gitSha1,
      ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.content.length, pointerSize: 134 } } : {}),
    }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: repoId, sha: commit, siblings }));
  }

  const CORS_HEADERS: Record<string, string> = {
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'x-repo-commit, x-linked-etag, x-linked-size, etag, content-length, content-range, accept-ranges, x-error-code',
    'cross-origin-resource-policy': 'cross-origin',
  };
  /** CORS for browsers (opts.cors): headers on every answer, preflights answered here. */
  function cors(req: IncomingMessage, res: ServerResponse): boolean {
    if (!opts.cors) return false;
    for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
    if (req.method !== 'OPTIONS') return false;
    res
      .writeHead(204, { 'access-control-allow-methods': 'GET, HEAD', 'access-control-allow-headers': 'authorization, range', 'access-control-max-age': '600' })
      .end();
    return true;
  }

  const log = (server: 'hub' | 'cdn', req: IncomingMessage): void => {
    requests.push({ server, method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers } });
  };
  const hub = createServer((req, res) => {
    log('hub', req);
    if (!cors(req, res)) serveHub(req, res);
  });
  const cdn = createServer((req, res) => {
    log('cdn', req);
    if (cors(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/lfs/')) serveCdn('cdn', req, res, url.pathname.slice('/lfs/'.length));
    else res.writeHead(404).end();
  });
  const url = await listen(hub);
  const cdnUrl = await listen(cdn);
  cdnBase = opts.cdn === 'same-host' ? url : cdnUrl;

  return {
    url,
    cdnUrl,
    requests,
    faults,
    file(repoId, name) {
      const f = repos.get(repoId)?.files.get(name);
      if (!f) throw new Error(`mock hub: no file ${name} in ${repoId}`);
      return f;
    },
    commitOf(repoId, revision = 'main') {
      const r = repos.get(repoId);
      if (!r) throw new Error(`mock hub: no repo ${repoId}`);
      const c = revision === 'main' ? r.commit : r.spec.refs?.[revision];
      if (!c) throw new Error(`mock hub: no revision ${revision} in ${repoId}`);
      return c;
    },
    async close() {
      for (const s of [hub, cdn]) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
  };
}
