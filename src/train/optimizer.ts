/**
 * The authors' optimizer, with PyTorch's semantics: AdamW (`torch.optim.AdamW`, decoupled weight decay, bias
 * correction, the single-tensor update written out below) on two parameter groups chosen the way their trainer does
 * (clean_clip_trainer.py `create_optimizer`: every parameter decays except LayerNorm parameters and any name
 * containing "bias"; the three `logit_scale*` temperatures decay), an optional separate learning rate for the text
 * tower (`text_model_lr`), and global gradient-norm clipping (`torch.nn.utils.clip_grad_norm_`).
 *
 * Float32 state and parameters, like the reference: every elementwise operation rounds to float32 as a PyTorch
 * float32 kernel does; the scalar factors (bias corrections, step size) are computed in float64 as Python computes
 * them. The step counter is the number of updates already applied (`state['step']` before the increment).
 */
import { FgClipError } from '../errors.js';
import { wasmAdamW, type AdamWKernel } from './adamw-wasm.js';

export interface AdamWOptions {
  /** β1, β2 (default 0.9, 0.999: HF `adam_beta1/2` defaults, the authors' `adamw_torch`) */
  readonly betas?: readonly [number, number];
  /** ε (default 1e-8) */
  readonly eps?: number;
  /** decoupled weight decay for the decaying group (default 0.001: the authors' stage-2 script) */
  readonly weightDecay?: number;
  /** learning-rate multiplier for `text_model.*` relative to the scheduled rate (default 1; reference `text_model_lr`) */
  readonly textModelLrScale?: number;
}

export const ADAMW_DEFAULTS = { betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0.001, textModelLrScale: 1 } as const;

/** Module names whose parameters are LayerNorm weights/biases (FG-CLIP spec §1.3, `pre_layrnorm` sic; FG-CLIP 2's pooling heads: `layernorm`). */
const LAYER_NORM_MODULES = new Set(['pre_layrnorm', 'post_layernorm', 'layer_norm1', 'layer_norm2', 'final_layer_norm', 'layernorm']);

/**
 * Whether a parameter is in the reference's no-decay group: the parameters of LayerNorm modules
 * (`get_parameter_names(model, ALL_LAYERNORM_LAYERS)` excludes them) and every name containing "bias".
 */
export function isNoDecay(name: string): boolean {
  if (name.includes('bias')) return true;
  const parts = name.split('.');
  return parts.length >= 2 && LAYER_NORM_MODULES.has(parts[parts.length - 2]);
}

const f = Math.fround;

/**
 * The update of one tensor, one value at a time: each float64 operation rounded to float32 by `Math.fround`, which
 * is the correctly rounded float32 operation PyTorch's kernels perform. The reference for the SIMD kernel
 * (adamw-wasm.ts, bit-identical and about 5× faster), and what runs where WebAssembly SIMD is unavailable.
 */
export const scalarAdamW: AdamWKernel = (p, g, m, v, decay, w1, b2, c2, bc2, eps, negStep) => {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const pi = f(p[i] * decay); // param.mul_(1 - lr * weight_decay) (× 1 without decay: exact)
    // exp_avg.lerp_(grad, 1 - beta1): weight < 0.5 ⇒ self + weight * (end - self)
    const mi = f(m[i] + f(w1 * f(gi - m[i])));
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    const vi = f(f(v[i] * b2) + f(c2 * f(gi * gi)));
    m[i] = mi;
    v[i] = vi;
    // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps); param.addcdiv_(exp_avg, denom, value=-step_size)
    const denom = f(f(f(Math.sqrt(vi)) / bc2) + eps);
    p[i] = f(pi + f(negStep * f(mi / denom)));
  }
};

let kernel: AdamWKernel | undefined;
/** the SIMD kernel when WebAssembly SIMD is there, else the scalar loop (chosen once per process) */
function adamwKernel(): AdamWKernel {
  kernel ??= wasmAdamW() ?? scalarAdamW;
  return kernel;
}

export interface AdamWState {
  /** updates already applied */
  readonly step: number;
  readonly expAvg: ReadonlyMap<string, Float32Array>;
  readonly expAvgSq: ReadonlyMap<string, Float32Array>;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly textModelLrScale: number;
  private stepCount = 0;
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();

  constructor(options: AdamWOptions = {}) {
    const [b1, b2] = options.betas ?? ADAMW_DEFAULTS.betas;
    const check = (what: string, x: number, ok: boolean, expected: string) => {
      if (!ok || !Number.isFinite(x)) throw new FgClipError('INPUT_INVALID', `AdamW: bad ${what} (expected ${expected}, got ${x})`);
    };
    check('beta1', b1, b1 >= 0 && b1 < 1, 'a number in [0, 1)');
    check('beta2', b2, b2 >= 0 && b2 < 1, 'a number in [0, 1)');
    this.beta1 = b1;
    this.beta2 = b2;
    this.eps = options.eps ?? ADAMW_DEFAULTS.eps;
    check('eps', this.eps, this.eps >= 0, 'a number ≥ 0');
    this.weightDecay = options.weightDecay ?? ADAMW_DEFAULTS.weightDecay;
    check('weightDecay', this.weightDecay, this.weightDecay >= 0, 'a number ≥ 0');
    this.textModelLrScale = options.textModelLrScale ?? ADAMW_DEFAULTS.textModelLrScale;
    check('textModelLrScale', this.textModelLrScale, this.textModelLrScale >= 0, 'a number ≥ 0');
  }

  /** updates applied so far */
  get step(): number {
    return this.stepCount;
  }

  /**
   * One update of every parameter that has a gradient (parameters without one — frozen — are left untouched and get
   * no state, as `p.grad is None` is skipped in PyTorch). `params` are updated in place.
   */
  update(params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>, lr: number): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new FgClipError('INPUT_INVALID', `AdamW: bad learning rate (expected a finite number ≥ 0, got ${lr})`);
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new FgClipError('INPUT_INVALID', `AdamW: gradient for ${name}, which is not a parameter`);
      if (p.length !== g.length) throw new FgClipError('INPUT_INVALID', `AdamW: ${name}: gradient has ${g.length} values, parameter ${p.length}`);
    }
    const t = this.stepCount + 1;
    const bc1 = 1 - this.beta1 ** t;
    const bc2Sqrt = Math.sqrt(1 - this.beta2 ** t);
    const w1 = f(1 - this.beta1); // lerp weight
    const b2 = f(this.beta2);
    const c2 = f(1 - this.beta2);
    const eps = f(this.eps);
    for (const [name, g] of grads) {
      const p = params.get(name)!;
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.length);
        v = new Float32Array(p.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const rate = name.startsWith('text_model.') ? lr * this.textModelLrScale : lr;
      const wd = isNoDecay(name) ? 0 : this.weightDecay;
      const decay = f(1 - rate * wd); // param.mul_(1 - lr * weight_decay)
      const stepSize = rate / bc1;
      const bc2 = f(bc2Sqrt);
      const negStep = f(-stepSize);
      adamwKernel()(p, g, m, v, wd === 0 ? 1 : decay, w1, b2, c2, bc2, eps, negStep);
    }
    this.stepCount = t;
  }

  state(): AdamWState {
    return { step: this.stepCount, expAvg: this.m, expAvgSq: this.v };
  }

  /** Restores a state saved by `state()` (copies the arrays). */
  load(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new FgClipError('INPUT_INVALID', `AdamW: bad saved step (got ${state.step})`);
    this.m.clear();
    this.v.clear();
    for (const [k, a] of state.expAvg) {
      const b = state.expAvgSq.get(k);
      if (!b || b.length !== a.length) throw new FgClipError('INPUT_INVALID', `AdamW: saved state for ${k} has exp_avg without a matching exp_avg_sq`);
      this.m.set(k, Float32Array.from(a));
      this.v.set(k, Float32Array.from(b));
    }
    this.stepCount = state.step;
  }
}

/** torch.nn.utils.clip_grad_norm_'s ε in `max_norm / (total_norm + 1e-6)`. */
const CLIP_EPS = 1e-6;

/**
 * Global L2 norm of all gradients, then (when `maxNorm` is finite) scales them in place by
 * `min(1, maxNorm / (norm + 1e-6))`, as `clip_grad_norm_` does (it always multiplies by the clamped coefficient).
 * The norm is accumulated in float64. Returns the norm before clipping.
 */
export function clipGradNorm(grads: ReadonlyMap<string, Float32Array>, maxNorm: number): number {
  let s = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  const norm = Math.sqrt(s);
  if (!Number.isFinite(norm)) return norm;
  if (Number.isFinite(maxNorm)) {
    const coef = Math.min(1, maxNorm / (norm + CLIP_EPS));
    if (coef < 1) {
      const c = f(coef);
      for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = f(g[i] * c);
    }
  }
  return norm;
}
