/**
 * Seeded randomness for training, counter-based so the whole random state of a run is (seed, epoch, position):
 * the epoch's order is a Fisher-Yates shuffle driven by a generator seeded from (seed, epoch), and a per-record
 * choice (the reference's `random.choice` of a box's short or long expression) is a hash of (seed, epoch, record).
 * Resuming at a position therefore reproduces exactly what a straight run would have drawn.
 */

/** 32-bit finalizer of MurmurHash3 (fmix32). */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of a list of integers. */
export function hash32(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) h = fmix((h ^ (x >>> 0)) + 0x7f4a7c15 + Math.imul(h, 31));
  return h;
}

/** mulberry32: a small, fast 32-bit generator; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The order of records 0..n-1 in `epoch` for `seed`. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle = true): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return order;
  const rand = mulberry32(hash32(seed, epoch, 0x5eed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** A uniform float in [0, 1) for one record in one epoch. */
export function recordRandom(seed: number, epoch: number, record: number, salt = 0): number {
  return hash32(seed, epoch, record, salt) / 4294967296;
}
