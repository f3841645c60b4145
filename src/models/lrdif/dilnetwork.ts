/**
 * DILnetwork: per scale, window cross-attention from the landmark features (queries) to the
 * DTnetwork's image features (keys and values), POSTER++'s window attention with Swin's
 * relative position bias (paper §3.2, spec "DILnetwork").
 *
 * For one scale, with F [B, Cf, H, W] (image) and L [B, Cl, H, W] (landmarks), both split
 * into non-overlapping w×w windows (M = w² tokens each):
 *   Q = L·w_Q,  [K | V] = LN(F)·w_KV   (width D, `heads` heads of d = D/heads)
 *   O = [softmax(QKᵀ/√d + b)·V]·w_O,   b[h, i, j] = table[index(i, j), h] (Swin)
 *   X' = O + proj(F);  X'' = MLP(LN(X')) + X'   (MLP: Linear(D → rD) → GELU → Linear(rD → D))
 * and X'' goes back to NCHW [B, D, H, W]. Every Linear has a bias (Swin's qkv_bias).
 * Parameters per scale: `normKv`, `q`, `kv` (rows 0…D−1 are w_K, D…2D−1 w_V), `relBias`
 * [(2w−1)², heads], `out` (w_O), `proj`, `normMlp`, `mlp.fc1`, `mlp.fc2`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { narrow, permute } from '../../kernels/layout.js';
import { linear } from '../../kernels/matmul.js';
import type { Generator } from '../../kernels/random.js';
import { reshape } from '../../kernels/shape.js';
import { windowAttentionTokens } from '../../kernels/window-attention.js';
import { normalInit } from '../../nn/init.js';
import { LayerNorm } from '../../nn/layernorm.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { lrdifScales, type LrdifConfig } from './config.js';
import { expectShape } from './layers.js';
import type { DtFeatures } from './dtnetwork.js';

export { relativePositionIndex } from '../../kernels/window-attention.js';

/**
 * The window attention core, in one place, on token-major tensors (what a Linear over window
 * tokens gives): q, k, v [Bw, M, heads·d] (channel h·d + c of a token is channel c of head h);
 * biasTable [(2w−1)², heads] with M = window², or null (plain attention, window ignored) →
 * softmax(q·kᵀ·scale + b)·v per window and head, [Bw, M, heads·d].
 * b[h, i, j] = biasTable[relativePositionIndex(window)[i·M + j], h] (Swin).
 */
export function windowAttentionCore(q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null, window: number | null, heads: number, scale: number): Tensor {
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3 || q.shape.some((d, i) => d !== k.shape[i] || d !== v.shape[i])) {
    throw new Error(`lrdif: windowAttentionCore: q, k, v must be [windows, tokens, heads·headDim] alike, got q ${q.describe()}, k ${k.describe()}, v ${v.describe()}`);
  }
  const [Bw, M, D] = q.shape;
  if (D % heads !== 0) throw new Error(`lrdif: windowAttentionCore: width ${D} of q ${q.describe()} is not a multiple of heads ${heads}`);
  if (biasTable) {
    if (!window || window * window !== M) throw new Error(`lrdif: windowAttentionCore: ${M} tokens per window is not window² (window ${window})`);
    expectShape('windowAttentionCore', 'relative position bias table', biasTable, [(2 * window - 1) ** 2, heads]);
  }
  // the fused op (online softmax, bias gathered in-kernel); windowAttentionTokensUnfused is its reference
  const as4 = (t: Tensor) => reshape(t, [1, Bw, M, D]);
  return tidy(() => reshape(windowAttentionTokens(as4(q), as4(k), as4(v), biasTable, window, heads, scale), [Bw, M, D]));
}

/** [B, C, H, W] → [B·(H/w)·(W/w), w², C], windows in row-major order, tokens row-major inside. */
export function toWindows(x: Tensor, window: number): Tensor {
  const [B, C, H, W] = x.shape;
  if (x.rank !== 4 || H % window !== 0 || W % window !== 0) {
    throw new Error(`lrdif: toWindows: ${x.describe()} must be [B, C, H, W] with H and W multiples of the window ${window}`);
  }
  const nH = H / window;
  const nW = W / window;
  return tidy(() => reshape(permute(reshape(x, [B, C, nH, window, nW, window]), [0, 2, 4, 3, 5, 1]), [B * nH * nW, window * window, C]));
}

/** The inverse of toWindows: [B·(H/w)·(W/w), w², C] → [B, C, H, W]. */
export function fromWindows(t: Tensor, window: number, B: number, H: number, W: number): Tensor {
  const nH = H / window;
  const nW = W / window;
  const C = t.shape[2];
  expectShape('fromWindows', 'window tokens', t, [B * nH * nW, window * window, -1]);
  return tidy(() => reshape(permute(reshape(t, [B, nH, nW, window, window, C]), [0, 5, 1, 3, 2, 4]), [B, C, H, W]));
}

export class DilMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(dim: number, hidden: number, generator?: Generator) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(dim, hidden, { generator, activation: 'gelu' }));
    this.fc2 = this.registerModule('fc2', new Linear(hidden, dim, { generator }));
  }

  /** x [..., dim] → [..., dim]; `residual` (that shape) is added in fc2's epilogue. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return tidy(() => this.fc2.forward(this.fc1.forward(x), residual));
  }
}

/** One scale of the DILnetwork. */
export class DilScale extends Module {
  readonly normKv: LayerNorm;
  readonly q: Linear;
  readonly kv: Linear;
  readonly relBias: Tensor;
  readonly out: Linear;
  readonly proj: Linear;
  readonly normMlp: LayerNorm;
  readonly mlp: DilMlp;

  constructor(
    readonly imageChannels: number,
    readonly landmarkChannels: number,
    readonly dim: number,
    readonly heads: number,
    readonly window: number,
    mlpRatio: number,
    generator?: Generator,
  ) {
    super();
    if (dim % heads !== 0) throw new Error(`lrdif: DilScale: width ${dim} is not a multiple of heads ${heads}`);
    this.normKv = this.registerModule('normKv', new LayerNorm(imageChannels));
    this.q = this.registerModule('q', new Linear(landmarkChannels, dim, { generator }));
    this.kv = this.registerModule('kv', new Linear(imageChannels, 2 * dim, { generator }));
    this.relBias = this.registerParameter('relBias', normalInit([(2 * window - 1) ** 2, heads], 0.02, generator));
    this.out = this.registerModule('out', new Linear(dim, dim, { generator }));
    this.proj = this.registerModule('proj', new Linear(imageChannels, dim, { generator }));
    this.normMlp = this.registerModule('normMlp', new LayerNorm(dim));
    this.mlp = this.registerModule('mlp', new DilMlp(dim, Math.floor(dim * mlpRatio), generator));
  }

  /** f [B, Cf, H, W] (image features), l [B, Cl, H, W] (landmark features) → [B, D, H, W]. */
  forward(f: Tensor, l: Tensor): Tensor {
    expectShape('DilScale', 'image features', f, [-1, this.imageChannels, -1, -1]);
    const [B, , H, W] = f.shape;
    expectShape('DilScale', 'landmark features', l, [B, this.landmarkChannels, H, W]);
    if (H % this.window !== 0 || W % this.window !== 0) {
      throw new Error(`lrdif: DilScale: feature maps ${f.describe()} must divide into ${this.window}×${this.window} windows`);
    }
    const D = this.dim;
    const h = this.heads;
    const d = D / h;
    return tidy(() => {
      const ft = toWindows(f, this.window);
      const lt = toWindows(l, this.window);
      // K and V from their rows of w_KV (slicing the small weight, not the activations)
      const fn = this.normKv.forward(ft);
      const kv = (i: number) => linear(fn, narrow(this.kv.weight, 0, i * D, D), narrow(this.kv.bias!, 0, i * D, D));
      const o = windowAttentionCore(this.q.forward(lt), kv(0), kv(1), this.relBias, this.window, h, 1 / Math.sqrt(d));
      // each sum is added in the last product's epilogue (no add of its own)
      const x1 = this.out.forward(o, this.proj.forward(ft));
      const x2 = this.mlp.forward(this.normMlp.forward(x1), x1);
      return fromWindows(x2, this.window, B, H, W);
    });
  }
}

/** The landmark taps of face-api's FaceFeatureExtractor, NCHW: 64 × S/4², 128 × S/8², 256 × S/16². */
export type LandmarkTaps = readonly [Tensor, Tensor, Tensor];

export class DILNetwork extends Module {
  readonly scale1: DilScale;
  readonly scale2: DilScale;
  readonly scale3: DilScale;

  constructor(
    readonly config: LrdifConfig,
    generator?: Generator,
  ) {
    super();
    const { widths } = lrdifScales(config);
    const make = (i: number) => new DilScale(widths[i], config.landmarkChannels[i], config.dilDims[i], config.dilHeads[i], config.window, config.dilMlpRatio, generator);
    this.scale1 = this.registerModule('scale1', make(0));
    this.scale2 = this.registerModule('scale2', make(1));
    this.scale3 = this.registerModule('scale3', make(2));
  }

  /** X''_i for i = 1, 2, 3: [B, D_i, side_i, side_i]. */
  run(features: DtFeatures, taps: LandmarkTaps): [Tensor, Tensor, Tensor] {
    checkTaps(this.config, taps, features.f1.shape[0]);
    return [this.scale1.forward(features.f1, taps[0]), this.scale2.forward(features.f2, taps[1]), this.scale3.forward(features.f3, taps[2])];
  }

  /** One scale (0, 1, 2): image features and landmark tap of that scale → X''. */
  forward(f: Tensor, l: Tensor, scale = 0): Tensor {
    const s = [this.scale1, this.scale2, this.scale3][scale];
    if (!s) throw new Error(`lrdif: DILNetwork.forward: scale must be 0, 1 or 2, got ${scale}`);
    return s.forward(f, l);
  }
}

/** Checks the three taps' shapes against the config; errors name the tap. */
export function checkTaps(config: LrdifConfig, taps: LandmarkTaps, batch: number): void {
  if (!Array.isArray(taps) || taps.length !== 3) throw new Error(`lrdif: LRDif: landmark taps must be an array of 3 tensors, got ${String(taps)}`);
  const { sides } = lrdifScales(config);
  for (let i = 0; i < 3; i++) {
    expectShape('LRDif', `landmark tap ${i + 1}`, taps[i], [batch, config.landmarkChannels[i], sides[i], sides[i]]);
  }
}
