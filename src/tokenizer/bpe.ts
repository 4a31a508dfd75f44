/**
 * The `BPE` model of HF `tokenizers` (tokenizers/src/models/bpe/model.rs `merge_word`, word.rs `merge_all`),
 * for one pre-tokenized, byte-level word.
 *
 * Merging follows the Rust queue exactly: every adjacent pair with a merge rule is queued by (rank, left position);
 * the lowest rank is applied first, ties go to the leftmost pair; entries made stale by an earlier merge are skipped,
 * and each merge queues the new pairs it forms with its neighbours. (For CLIP's merges this equals the classic
 * "merge every occurrence of the best bigram" loop of openai/CLIP simple_tokenizer.py.)
 */

export interface BpeOptions {
  /** appended to the last character of every word (CLIP: "</w>") */
  readonly endOfWordSuffix: string;
  /** prepended to every character but the first, and stripped from the right token of a merge (CLIP: "") */
  readonly continuingSubwordPrefix: string;
  /** id used for characters missing from the vocab; null drops them, as tokenizers does without `unk_token` */
  readonly unkId: number | null;
  /** consecutive unknown characters become a single unk */
  readonly fuseUnk: boolean;
  /** a word found whole in the vocab is emitted without merging (tokenizers ≥ 0.19 `ignore_merges`) */
  readonly ignoreMerges: boolean;
  /**
   * SentencePiece byte fallback (`byte_fallback`): a character missing from the vocab becomes the `<0xHH>` tokens of
   * its UTF-8 bytes when all of them are in the vocab; only otherwise is it unknown. Absent = false.
   */
  readonly byteFallback?: boolean;
}

const utf8 = new TextEncoder();
/** `<0x00>` … `<0xFF>`: the byte tokens' spelling (Rust `format!("<{b:#04X}>")`) */
const BYTE_TOKENS: readonly string[] = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);

/** One merge rule `left right`, already resolved to ids; its rank is its index in the merges list. */
export interface MergeRule {
  readonly left: number;
  readonly right: number;
  readonly result: number;
}

/** Min-queue of (rank, pos, result) ordered by rank then pos, like the Rust `BinaryHeap<Merge>` with its reversed `Ord`. */
class MergeQueue {
  private readonly rank: number[] = [];
  private readonly pos: number[] = [];
  private readonly result: number[] = [];

  get size(): number {
    return this.rank.length;
  }

  private less(i: number, j: number): boolean {
    return this.rank[i] < this.rank[j] || (this.rank[i] === this.rank[j] && this.pos[i] < this.pos[j]);
  }

  private swap(i: number, j: number): void {
    const { rank, pos, result } = this;
    let t = rank[i];
    rank[i] = rank[j];
    rank[j] = t;
    t = pos[i];
    pos[i] = pos[j];
    pos[j] = t;
    t = result[i];
    result[i] = result[j];
    result[j] = t;
  }

  push(rank: number, pos: number, result: number): void {
    this.rank.push(rank);
    this.pos.push(pos);
    this.result.push(result);
    let i = this.rank.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the minimum; returns [rank, pos, result]. Only call when size > 0. */
  pop(): [number, number, number] {
    const top: [number, number, number] = [this.rank[0], this.pos[0], this.result[0]];
    const lastIdx = this.rank.length - 1;
    this.swap(0, lastIdx);
    this.rank.pop();
    this.pos.pop();
    this.result.pop();
    const n = this.rank.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

export class BpeModel {
  /** pair key (left * stride + right) → rank; later duplicates overwrite earlier ones, as the Rust HashMap does */
  private readonly pairRank = new Map<number, number>();
  private readonly rankResult: Int32Array;
  private readonly stride: number;

  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    merges: readonly MergeRule[],
    private readonly opts: BpeOptions,
  ) {
    let maxId = 0;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.stride = maxId + 1;
    this.rankResult = new Int32Array(merges.length);
    merges.forEach((m, rank) => {
      this.pairRank.set(m.left * this.stride + m.right, rank);
      this.rankResult[rank] = m.result;
    });
  }

  /** Ids of one byte-level word (never empty for a non-empty word unless characters are unknown and unk is unset). */
  tokenize(word: string): number[] {
    const { endOfWordSuffix: suffix, continuingSubwordPrefix: prefix, unkId, fuseUnk } = this.opts;
    if (this.opts.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) return [whole];
    }
    const chars = Array.from(word);
    const symbols: number[] = [];
    let pendingUnk = false;
    for (let i = 0; i < chars.length; i++) {
      let s = chars[i];
      if (i > 0 && prefix) s = prefix + s;
      if (i === chars.length - 1 && suffix) s = s + suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        if (pendingUnk) symbols.push(unkId as number);
        pendingUnk = false;
        symbols.push(id);
      } else if (!(this.opts.byteFallback === true && this.pushBytes(s, symbols)) && unkId !== null) {
        // (byte tokens, when used, do not flush a pending unk: tokenizers' merge_word flushes it only on a vocab hit)
        if (pendingUnk && !fuseUnk) symbols.push(unkId);
        pendingUnk = true;
      }
    }
    if (pendingUnk) symbols.push(unkId as number);
    return symbols.length < 2 ? symbols : this.mergeAll(symbols);
  }

  /** Appends the byte tokens of `s` when every one is in the vocab (else appends nothing and returns false). */
  private pushBytes(s: string, symbols: number[]): boolean {
    const bytes = utf8.encode(s);
    const ids: number[] = [];
    for (const b of bytes) {
      const id = this.vocab.get(BYTE_TOKENS[b]);
      if (id === undefined) return false;
      ids.push(id);
    }
    for (const id of ids) symbols.push(id);
    return true;
  }

  private ruleFor(left: number, right: number): number | undefined {
    return this.pairRank.get(left * this.stride + right);
  }

  private mergeAll(ids: number[]): number[] {
    const n = ids.length;
    const c = Int32Array.from(ids);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const queue = new MergeQueue();
    for (let i = 0; i + 1 < n; i++) {
      const rank = this.ruleFor(c[i], c[i + 1]);
      if (rank !== undefined) queue.push(rank, i, this.rankResult[rank]);
    }
    while (queue.size > 0) {
      const [, pos, result] = queue.pop();
      if (!alive[pos] || next[pos] === -1) continue;
      const right = next[pos];
      const current = this.ruleFor(c[pos], c[right]);
      if (current === undefined || this.rankResult[current] !== result) continue; // stale entry
      c[pos] = result;
      alive[right] = 0;
      next[pos] = next[right];
      if (next[pos] !== -1) prev[next[pos]] = pos;
      const p = prev[pos];
      if (p !== -1) {
        const r = this.ruleFor(c[p], c[pos]);
        if (r !== undefined) queue.push(r, p, this.rankResult[r]);
      }
      const q = next[pos];
      if (q !== -1) {
        const r = this.ruleFor(c[pos], c[q]);
        if (r !== undefined) queue.push(r, pos, this.rankResult[r]);
      }
    }
    const out: number[] = [];
    for (let i = 0; i !== -1; i = next[i]) out.push(c[i]);
    return out;
  }
}
