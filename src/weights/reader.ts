/**
 * The scoped weight reader: the one list of tensor names is what the graph builders ask for.
 *
 *   const layer = reader.scope('vision_model.encoder.layers.3');
 *   layer.get('mlp.fc1.weight', [I, D]);   // → Float32Array, shape checked exactly
 *
 * Every read is recorded. A tensor that is absent or has another shape does not stop the build: the reader notes it
 * and hands out zeros of the asked shape, so that `check()` after the build reports every missing and mis-shaped
 * tensor in one error; `unused()` lists what the checkpoint holds that nothing read. With `consume`, each tensor
 * leaves the map when it is read, so a checkpoint is never held twice while graphs copy it.
 */
import { FgClipError } from '../errors.js';
import type { WeightSource } from '../graph/blocks.js';
import type { TensorMap } from './types.js';

export interface WeightScope extends WeightSource {
  /** the module path of this scope ('' at the root) */
  readonly prefix: string;
  /** a sub-scope: `scope('a').scope('b')` reads `a.b.<name>` */
  scope(sub: string): WeightScope;
  /** whether the checkpoint holds `name` (not recorded as a read) */
  has(name: string): boolean;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export class WeightReader implements WeightScope {
  readonly prefix = '';
  private readonly read = new Map<string, readonly number[]>();
  private readonly missing: string[] = [];
  private readonly misShaped: string[] = [];
  private readonly present: ReadonlySet<string>;

  /**
   * @param tensors the checkpoint's tensors (after the family's remaps)
   * @param source the file(s) named in errors
   */
  constructor(
    private readonly tensors: TensorMap,
    private readonly source: string,
    private readonly opts: { consume?: boolean } = {},
  ) {
    this.present = new Set(tensors.keys());
  }

  scope(sub: string): WeightScope {
    return scoped(this, sub);
  }

  has(name: string): boolean {
    return this.present.has(name);
  }

  get(name: string, shape: readonly number[]): Float32Array {
    if (this.read.has(name)) throw new Error(`weight reader: ${name} read twice (a builder bug: read once, reuse the graph value)`);
    this.read.set(name, [...shape]);
    const t = this.tensors.get(name);
    if (this.opts.consume) this.tensors.delete(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!t) {
      this.missing.push(`${name} ${fmt(shape)}`);
      return new Float32Array(n);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      this.misShaped.push(`${name} (expected ${fmt(shape)}, got ${fmt(t.shape)})`);
      return new Float32Array(n);
    }
    return t.data;
  }

  /** name → shape of every tensor read so far */
  get consumed(): ReadonlyMap<string, readonly number[]> {
    return this.read;
  }

  /** tensors of the checkpoint nothing has read */
  unused(): string[] {
    return [...this.present].filter((n) => !this.read.has(n));
  }

  /** Throws one WEIGHTS_MISSING (or WEIGHTS_SHAPE when nothing is missing) error naming every problem. */
  check(hint: string): void {
    if (this.missing.length === 0 && this.misShaped.length === 0) return;
    const parts: string[] = [];
    if (this.missing.length) parts.push(`${this.missing.length} missing tensor(s): ${this.missing.join(', ')}`);
    if (this.misShaped.length) parts.push(`${this.misShaped.length} tensor(s) with the wrong shape: ${this.misShaped.join(', ')}`);
    throw new FgClipError(
      this.missing.length ? 'WEIGHTS_MISSING' : 'WEIGHTS_SHAPE',
      `${this.source}: checkpoint does not match config.json: ${parts.join('; ')}. ${hint}`,
    );
  }
}

function scoped(root: WeightReader, prefix: string): WeightScope {
  const full = (name: string) => (prefix ? `${prefix}.${name}` : name);
  return {
    prefix,
    scope: (sub) => scoped(root, full(sub)),
    has: (name) => root.has(full(name)),
    get: (name, shape) => root.get(full(name), shape),
  };
}
