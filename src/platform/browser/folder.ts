/**
 * The file reading port (src/platform/ports.ts `ModelFolder`) in the browser: the files of a `FileProvider` (Hub
 * mirror, URL, OPFS), each checked against what the export manifest says of it when `expect` names it.
 */
import { FgClipError } from '../../errors.js';
import type { FileSpec } from '../../export/manifest.js';
import type { ModelFolder } from '../ports.js';
import type { FileProvider } from './sources.js';

export function providerFolder(p: FileProvider, expect: (file: string) => FileSpec | undefined = () => undefined): ModelFolder {
  return {
    location: p.label,
    where: (name) => `${p.label}/${name}`,
    async readText(name, limits) {
      const b = await p.get(name, expect(name));
      if (b === undefined) return undefined;
      if (limits.maxBytes !== undefined && b.size > limits.maxBytes) {
        throw new FgClipError(
          limits.code,
          `${p.label}/${name}: ${limits.what} is ${b.size} bytes, more than the ${limits.maxBytes} allowed${limits.hint ? `. ${limits.hint}` : ''}`,
        );
      }
      return b.text();
    },
  };
}
