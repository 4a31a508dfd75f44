/** --labels "a,b" / --labels-file F (one label per line; # comments and blank lines skipped). */
import { readFileSync } from 'node:fs';
import { FgClipError } from '../errors.js';
import { str, type parse } from './args.js';

export function readLabels(values: ReturnType<typeof parse>['values']): string[] | undefined {
  const inline = str(values, 'labels');
  const file = str(values, 'labels-file');
  if (inline === undefined && file === undefined) return undefined;
  const out: string[] = [];
  if (inline !== undefined)
    out.push(
      ...inline
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new FgClipError('INPUT_INVALID', `--labels-file ${file}: cannot read the file (${(e as Error).message})`);
    }
    out.push(
      ...text
        .split(/\r?\n/)
        .map((s) => s.trim())
        .filter((s) => s && !s.startsWith('#')),
    );
  }
  if (out.length === 0)
    throw new FgClipError('INPUT_INVALID', 'labels: the label list is empty (give --labels "a cat,a dog" or a --labels-file with one label per line)');
  return out;
}
