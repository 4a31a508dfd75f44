/** A tokenizer.json on disk as a CLIP tokenizer (synchronous; special files refused, size bounded). */
import { ClipTokenizer, parseJsonText, tokenizerFile } from '../../tokenizer/clip-tokenizer.js';
import { readRegularSync } from './regular-file.js';
import { basename } from 'node:path';

/** Reads a Hugging Face tokenizer.json (a whole checkpoint folder: `ClipTokenizer.fromFolder(nodeFolder(dir))`). */
export function clipTokenizerFromFile(path: string): ClipTokenizer {
  const text = readRegularSync(path, { ...tokenizerFile(basename(path)), hint: "Pass the path of the checkpoint's tokenizer.json" }).toString('utf8');
  return ClipTokenizer.fromJson(parseJsonText(text, path), path);
}
