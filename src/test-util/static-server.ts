/**
 * A tiny loopback static file server for the browser tests: URL prefixes mapped to folders, the two
 * cross-origin-isolation headers on every answer (COOP same-origin, COEP require-corp) except under /plain/, which
 * serves the same files without them; Range requests (206) like any static host; extra in-memory routes.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } as const;

export interface StaticServer {
  readonly url: string;
  /** request paths seen, in order */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startStaticServer(
  roots: Record<string, string>,
  pages: Record<string, { type: string; body: string }> = {},
  opts: { port?: number } = {},
): Promise<StaticServer> {
  const requests: string[] = [];
  const prefixes = Object.keys(roots).sort((a, b) => b.length - a.length);
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    requests.push(u.pathname);
    const plain = u.pathname.startsWith('/plain/');
    const path = plain ? u.pathname.slice('/plain'.length) : u.pathname;
    const base: Record<string, string> = plain ? {} : { ...ISOLATION_HEADERS };
    const page = pages[path];
    if (page) {
      res.writeHead(200, { ...base, 'content-type': page.type }).end(page.body);
      return;
    }
    const pre = prefixes.find((p) => path.startsWith(p));
    const file = pre === undefined ? undefined : normalize(join(roots[pre], decodeURIComponent(path.slice(pre.length))));
    if (!file || !file.startsWith(normalize(roots[pre as string]).replace(/[\\/]$/, '') + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...base, 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const size = statSync(file).size;
    const headers: Record<string, string | number> = { ...base, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'accept-ranges': 'bytes' };
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && Number(range[1]) < size) {
      const start = Number(range[1]);
      res.writeHead(206, { ...headers, 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}` });
      createReadStream(file, { start }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
