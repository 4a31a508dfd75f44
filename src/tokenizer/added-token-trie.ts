/**
 * Added-token matching for vocabularies with thousands of added tokens (Gemma: 6,415). Same result as
 * `splitOnAddedTokens` (leftmost-longest, non-overlapping; tokenizers' aho-corasick `LeftmostLongest`), but a
 * character trie instead of one `indexOf` per token: the work is O(text length × longest token), whatever the
 * number of tokens or of matches in the text.
 */
import type { AddedToken, Segment } from './added-tokens.js';

interface TrieNode {
  readonly next: Map<number, TrieNode>;
  /** index into `tokens` of the token ending here, or -1 */
  token: number;
}

const WHITE_SPACE = /\p{White_Space}/u;
const ALNUM = /[\p{Alphabetic}\p{N}]/u;

function codePointBefore(text: string, i: number): string {
  if (i <= 0) return '';
  const lo = text.charCodeAt(i - 1);
  return i >= 2 && lo >= 0xdc00 && lo <= 0xdfff ? text.slice(i - 2, i) : text.slice(i - 1, i);
}

export class AddedTokenTrie {
  private readonly root: TrieNode = { next: new Map(), token: -1 };
  readonly size: number;

  /** `patterns[i]` is the string matched for `tokens[i]` (its content, or its normalized content). */
  constructor(
    private readonly tokens: readonly AddedToken[],
    patterns: readonly string[],
  ) {
    let size = 0;
    patterns.forEach((p, i) => {
      if (p.length === 0) return;
      let node = this.root;
      for (let k = 0; k < p.length; k++) {
        const c = p.charCodeAt(k);
        let child = node.next.get(c);
        if (child === undefined) {
          child = { next: new Map(), token: -1 };
          node.next.set(c, child);
        }
        node = child;
      }
      // a later duplicate of the same content wins, as in the Rust vocabulary's map
      if (node.token === -1) size++;
      node.token = i;
    });
    this.size = size;
  }

  /** Longest token starting at `at`: [token index, end] or undefined. */
  private longestAt(text: string, at: number): [number, number] | undefined {
    let node: TrieNode | undefined = this.root;
    let best: [number, number] | undefined;
    for (let k = at; k < text.length; k++) {
      node = node.next.get(text.charCodeAt(k));
      if (node === undefined) break;
      if (node.token !== -1) best = [node.token, k + 1];
    }
    return best;
  }

  /**
   * Splits `text` around the tokens (tokenizers added_vocabulary.rs `find_matches` / `split_with_indices`):
   * `single_word` skips a match glued to a letter or digit, `lstrip`/`rstrip` swallow adjacent whitespace.
   * Appends to `out`; empty stretches are not emitted. Returns each emitted text stretch's start offset in `text`
   * in `starts` (same order as the stretches), for pre-tokenizers that treat the start of the text specially.
   */
  split(text: string, out: Segment[], starts?: number[]): void {
    let emitted = 0;
    let i = 0;
    const pushText = (from: number, to: number): void => {
      if (to <= from) return;
      out.push({ text: text.slice(from, to) });
      starts?.push(from);
    };
    if (this.size > 0) {
      while (i < text.length) {
        const m = this.longestAt(text, i);
        if (m === undefined) {
          i++;
          continue;
        }
        const [index, end] = m;
        const token = this.tokens[index];
        let start = i;
        let stop = end;
        i = end;
        if (token.singleWord && (ALNUM.test(codePointBefore(text, start)) || ALNUM.test(String.fromCodePoint(text.codePointAt(stop) ?? 32)))) continue;
        if (token.lstrip) while (start > emitted && WHITE_SPACE.test(text[start - 1])) start--;
        if (token.rstrip) {
          while (stop < text.length && WHITE_SPACE.test(text[stop])) stop++;
          i = stop;
        }
        pushText(emitted, start);
        out.push({ id: token.id });
        emitted = stop;
      }
    }
    pushText(emitted, text.length);
  }
}
