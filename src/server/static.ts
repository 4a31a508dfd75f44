/**
 * The web page (web/index.html, app.js, style.css): a fixed list of files read once at start-up, served with a
 * strict Content-Security-Policy (same-origin scripts, styles and API calls only; images also from data:/blob:).
 * No directory listing, no path from the request ever touches the file system.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** web/ beside src/ (and beside dist/ in the published package: both are two levels up from this file). */
export const DEFAULT_WEB_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'web');

const FILES: Readonly<Record<string, readonly [string, string]>> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

export const STATIC_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
}

/** Loads the page's files; an absent folder gives an empty table (the API still works, `/` answers 404). */
export function loadStatic(root: string | false): Map<string, StaticFile> {
  const out = new Map<string, StaticFile>();
  if (root === false || !existsSync(join(root, 'index.html'))) return out;
  for (const [path, [file, contentType]] of Object.entries(FILES)) {
    const full = join(root, file);
    if (existsSync(full)) out.set(path, { body: readFileSync(full), contentType });
  }
  return out;
}

export const STATIC_PATHS: readonly string[] = Object.keys(FILES);
