/** The one read-a-JSON-file helper on Node: a regular file within a size bound, parsed, every failure typed. */
import { parseJson } from '../../config/fields.js';
import type { ReadLimits } from '../ports.js';
import { readRegularText } from './regular-file.js';

/**
 * Reads and parses the JSON file `path`: absent, special (directory, FIFO, device), oversized or invalid JSON →
 * FgClipError with `limits.code` (or `missingCode` for an absent file) naming the file.
 */
export async function readJsonFile(path: string, limits: ReadLimits & { readonly missingCode?: ReadLimits['code'] }): Promise<unknown> {
  return parseJson(await readRegularText(path, limits), path, limits.code, limits.hint);
}
