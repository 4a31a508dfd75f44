/** The file reading port (src/platform/ports.ts `ModelFolder`) on Node: a folder on disk, special files refused. */
import { join } from 'node:path';
import type { ModelFolder, ReadLimits } from '../ports.js';
import { pathExists, readRegularText } from './regular-file.js';

/** The files of the folder `dir`; absent files read as undefined, special or oversized ones fail with `limits.code`. */
export function nodeFolder(dir: string): ModelFolder {
  return {
    location: dir,
    where: (name) => join(dir, name),
    async readText(name: string, limits: ReadLimits): Promise<string | undefined> {
      const path = join(dir, name);
      if (!(await pathExists(path))) return undefined;
      return readRegularText(path, limits);
    },
  };
}
