/**
 * What an index run covers: folders (walked recursively), image files, and quoted shell-style globs
 * (`photos/**\/*.jpg`, `*`, `?`, `**`). The scope decides what a run may remove: a stored image leaves the
 * collection only when its path is inside the scope and no file in the scope still has its content.
 */
import { stat } from 'node:fs/promises';
import { normalize, sep } from 'node:path';
import { FgClipError } from '../errors.js';
import { IMAGE_EXTENSIONS, listImages } from '../tasks/images.js';

export interface Scope {
  readonly files: string[];
  readonly contains: (path: string) => boolean;
}

const GLOB = /[*?[]/;

function globRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Expands sources into image files (normalized, sorted, unique) and the scope they cover. */
export async function expandSources(sources: readonly string[]): Promise<Scope> {
  if (sources.length === 0) throw new FgClipError('INPUT_INVALID', 'index: give at least one folder, image file or glob');
  const files = new Set<string>();
  const prefixes: string[] = [];
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const raw of sources) {
    const src = normalize(raw);
    // a name that exists is taken literally, even with glob characters in it ("photos [2024]")
    const existing = await stat(src).catch(() => undefined);
    if (!existing && GLOB.test(src)) {
      const parts = src.split('/');
      const k = parts.findIndex((p) => GLOB.test(p));
      const base = parts.slice(0, k).join('/') || '.';
      const re = globRegex(src);
      globs.push(re);
      for (const f of await listImages(base)) if (re.test(normalize(f))) files.add(normalize(f));
      continue;
    }
    const st = existing;
    if (!st) throw new FgClipError('INPUT_INVALID', `index: ${raw}: no such file or folder`);
    if (st.isDirectory()) {
      prefixes.push(src.endsWith(sep) ? src : src + sep);
      for (const f of await listImages(src)) files.add(normalize(f));
    } else if (st.isFile()) {
      if (!IMAGE_EXTENSIONS.some((e) => src.toLowerCase().endsWith(e)))
        throw new FgClipError('INPUT_INVALID', `index: ${raw}: not an image file (expected one of ${IMAGE_EXTENSIONS.join(' ')})`);
      files.add(src);
      exact.add(src);
    } else throw new FgClipError('INPUT_INVALID', `index: ${raw}: not a regular file or folder`);
  }
  return {
    files: [...files].sort(),
    contains: (p) =>
      exact.has(p) || prefixes.some((x) => p.startsWith(x) || (x === './' && !p.startsWith('/') && !p.startsWith('..'))) || globs.some((g) => g.test(p)),
  };
}
