/**
 * face-api's FaceFeatureExtractor (src/faceFeatureExtractor/ of @vladmandic/face-api) on the
 * engine's ops, NCHW.
 *
 * Input: x [N, 3, 112, 112], RGB in [0, 1]. face-api feeds its nets 0..255 pixels and computes
 * (x − meanRgb) / 255 with meanRgb = [122.782, 117.001, 104.298]; here that is x − meanRgb/255.
 *
 * A dense block (`denseBlock4`, or `denseBlock3` for the tiny extractor, which stops after out3):
 *   out1 = relu(conv0(x))                       conv0: 3×3 stride 2, TF 'same' padding
 *   out2 = sep(out1)                            sep: depthwise 3×3 stride 1 'same', then
 *   in3  = relu(out1 + out2)                         pointwise 1×1, plus bias
 *   out3 = sep(in3)
 *   in4  = relu(out1 + (out2 + out3))           (the tiny block returns this)
 *   out4 = sep(in4)
 *   out  = relu(out1 + (out2 + (out3 + out4)))
 * conv0 of the first block is a full 3×3 convolution 3 → 32 with bias; in the other blocks it is
 * a separable convolution whose depthwise part has stride 2. TF's SAME padding at stride 2 on an
 * even size pads only the bottom/right (56 → 28: rows 0..56, one zero row below).
 *
 * Full extractor: blocks of 32, 64, 128, 256 channels at 56², 28², 14², 7²; then a 7×7 average
 * (face-api's avgPool 7×7 stride 2 'valid' on a 7×7 map) → [N, 256].
 * Tiny extractor: 32, 64, 128 channels at 56², 28², 14²; then the 14×14 average → [N, 128].
 *
 * Weights are frozen (no gradients); state-dict names mirror TF.js names with '/' → '.'
 * (`dense1.conv0.depthwise_filter`), in the engine's layouts (OIHW, [C, 1, 3, 3], [O, C, 1, 1]).
 *
 * Two paths compute the same function: the default fused one (inference only: each separable
 * convolution is the depthwise kernel, a matmul with the pointwise weights, and one pass of
 * shaders/faceapi.wgsl that adds the bias, updates the block's running sum in place and applies
 * the ReLU; 12 dispatches per block) and the reference one on the engine's differentiable ops
 * (`{ fused: false }`), which follows face-api's code term for term. The fused sums associate
 * left to right ((out1 + out2) + out3 ...), face-api's right to left: they differ by float
 * rounding only.
 */
import { Module } from '../../nn/module.js';
import { tensor, type Tensor } from '../../autograd/tensor.js';
import { engine, tidy } from '../../autograd/engine.js';
import { conv2d } from '../../kernels/conv.js';
import { add, relu, sub } from '../../kernels/elementwise.js';
import { mean } from '../../kernels/reduce.js';
import { matmul } from '../../kernels/matmul.js';
import { reshape } from '../../kernels/shape.js';
import { alloc, grid1d } from '../../kernels/util.js';
import type { PooledBuffer } from '../../gpu/buffer-pool.js';
import type { GpuContext } from '../../gpu/context.js';
import { hwioToOihw, type FaceApiWeightSource } from './weights.js';

/** face-api's mean RGB on the 0..255 scale. */
export const FACEAPI_MEAN_RGB = [122.782, 117.001, 104.298] as const;
/** Input size of face-api's landmark and expression nets. */
export const FACEAPI_INPUT_SIZE = 112;

export type FaceFeatureExtractorKind = 'full' | 'tiny';

export const FACE_FEATURE_EXTRACTOR_SPECS: Record<FaceFeatureExtractorKind, { channels: readonly number[]; convsPerBlock: 3 | 4 }> = {
  full: { channels: [32, 64, 128, 256], convsPerBlock: 4 },
  tiny: { channels: [32, 64, 128], convsPerBlock: 3 },
};

/** Faces per chunk of the fused path: small on CPU adapters (cache-resident activations), larger on GPUs. */
function faceApiChunk(ctx: GpuContext): number {
  return ctx.caps.isCpuAdapter ? 4 : 32;
}

/** Frozen parameter from host data. */
function frozen(m: Module, name: string, data: Float32Array, shape: number[]): Tensor {
  const t = m.registerParameter(name, tensor(data, shape));
  t.requiresGrad = false;
  return t;
}

/** A full 3×3 convolution with bias (the first block's conv0). */
export class FaceApiConv extends Module {
  readonly filters: Tensor;
  readonly bias: Tensor;
  constructor(src: FaceApiWeightSource, prefix: string, ci: number, co: number) {
    super();
    this.filters = frozen(this, 'filters', hwioToOihw(src.float32(`${prefix}/filters`, [3, 3, ci, co]), 3, 3, ci, co), [co, ci, 3, 3]);
    this.bias = frozen(this, 'bias', src.float32(`${prefix}/bias`, [co]), [co]);
  }
  forward(x: Tensor, stride = 2): Tensor {
    return conv2d(x, this.filters, this.bias, { stride, padding: 'same' });
  }
}

/** TF's separableConv2d + bias: depthwise 3×3 (stride s, 'same'), pointwise 1×1, bias. */
export class FaceApiSeparableConv extends Module {
  readonly depthwise: Tensor;
  readonly pointwise: Tensor;
  readonly bias: Tensor;
  constructor(src: FaceApiWeightSource, prefix: string, ci: number, co: number) {
    super();
    this.depthwise = frozen(this, 'depthwise_filter', hwioToOihw(src.float32(`${prefix}/depthwise_filter`, [3, 3, ci, 1]), 3, 3, ci, 1), [ci, 1, 3, 3]);
    // [1, 1, ci, co] → [co, ci, 1, 1] is the HWIO → OIHW transpose with kh = kw = 1
    this.pointwise = frozen(this, 'pointwise_filter', hwioToOihw(src.float32(`${prefix}/pointwise_filter`, [1, 1, ci, co]), 1, 1, ci, co), [co, ci, 1, 1]);
    this.bias = frozen(this, 'bias', src.float32(`${prefix}/bias`, [co]), [co]);
  }
  forward(x: Tensor, stride = 1): Tensor {
    const d = conv2d(x, this.depthwise, null, { stride, padding: 'same', groups: x.shape[1] });
    const y = conv2d(d, this.pointwise, this.bias);
    d.dispose();
    return y;
  }

  /** W·depthwise(x) as [N, O, H'·W'] without the bias (the fused path adds it in its epilogue). */
  product(x: Tensor, stride: number): Tensor {
    const d = conv2d(x, this.depthwise, null, { stride, padding: 'same', groups: x.shape[1] });
    const [n, c, h, w] = d.shape;
    const d3 = reshape(d, [n, c, h * w]);
    const w2 = reshape(this.pointwise, [this.pointwise.shape[0], c]);
    const m = matmul(w2, d3);
    d.dispose();
    d3.dispose();
    w2.dispose();
    return m;
  }
}

type Epilogue = 'bias_relu' | 'sum_relu' | 'last_relu';

/**
 * One pass of shaders/faceapi.wgsl over a [N, C, H, W] result: `a` the pointwise product
 * [N, C, H·W], `s` the running sum (updated in place by sum_relu). Returns the ReLU output.
 */
function epilogue(entry: Epilogue, a: Tensor, bias: Tensor, shape: readonly number[], s: Tensor | null): Tensor {
  const ctx = a.ctx;
  const y = alloc(shape);
  const plane = shape[2] * shape[3];
  const v = plane % 4 === 0 ? 4 : 1;
  const bindings: Record<string, PooledBuffer> = { a: a.buffer, bias: bias.buffer, y: y.buffer };
  if (s) bindings.s = s.buffer;
  ctx.dispatch(
    { shader: 'faceapi', entry, constants: { V: v } },
    { bindings, uniforms: { total: a.size, plane, channels: shape[1], offset: 0, mean: [0, 0, 0, 0] }, workgroups: grid1d(ctx, Math.ceil(a.size / v)) },
  );
  return y;
}

/** face-api's denseBlock4 (4 convolutions) or denseBlock3 (3). */
export class FaceApiDenseBlock extends Module {
  readonly convs: Array<FaceApiConv | FaceApiSeparableConv>;
  constructor(src: FaceApiWeightSource, prefix: string, ci: number, co: number, convs: 3 | 4, first: boolean) {
    super();
    this.convs = [];
    for (let i = 0; i < convs; i++) {
      const p = `${prefix}/conv${i}`;
      const c = i === 0 && first ? new FaceApiConv(src, p, ci, co) : new FaceApiSeparableConv(src, p, i === 0 ? ci : co, co);
      this.convs.push(this.registerModule(`conv${i}`, c));
    }
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [c0, c1, c2, c3] = this.convs;
      const out1 = relu(c0.forward(x, 2));
      const out2 = c1.forward(out1, 1);
      const in3 = relu(add(out1, out2));
      const out3 = c2.forward(in3, 1);
      const in4 = relu(add(out1, add(out2, out3)));
      if (!c3) return in4;
      const out4 = c3.forward(in4, 1);
      return relu(add(out1, add(out2, add(out3, out4))));
    });
  }

  /** The same block on the fused passes (inference only; see the file comment). */
  forwardFused(x: Tensor): Tensor {
    const [c0, ...rest] = this.convs;
    let out1: Tensor;
    if (c0 instanceof FaceApiConv) out1 = relu(c0.forward(x, 2));
    else {
      const a = c0.product(x, 2);
      const [n, , h, w] = x.shape;
      out1 = epilogue('bias_relu', a, c0.bias, [n, a.shape[1], Math.ceil(h / 2), Math.ceil(w / 2)], null);
      a.dispose();
    }
    // the running sum starts as out1 (which is also the next conv's input) and is updated in place
    const sum = out1;
    let h = out1;
    rest.forEach((c, i) => {
      const a = (c as FaceApiSeparableConv).product(h, 1);
      const last = i === rest.length - 1;
      const y = epilogue(last ? 'last_relu' : 'sum_relu', a, c.bias, sum.shape, sum);
      a.dispose();
      if (h !== sum) h.dispose();
      h = y;
    });
    sum.dispose();
    return h;
  }
}

export class FaceFeatureExtractor extends Module {
  readonly kind: FaceFeatureExtractorKind;
  readonly blocks: FaceApiDenseBlock[];
  /** Channels of each block's output. */
  readonly channels: readonly number[];
  private readonly meanRgb: Tensor;

  /** Builds the extractor from TF.js-named weights (`dense0/conv0/filters`, ...). */
  constructor(src: FaceApiWeightSource, kind: FaceFeatureExtractorKind = 'full') {
    super();
    const spec = FACE_FEATURE_EXTRACTOR_SPECS[kind];
    if (!spec) throw new Error(`lrdif: FaceFeatureExtractor: kind must be 'full' or 'tiny', got '${String(kind)}'`);
    this.kind = kind;
    this.channels = spec.channels;
    this.blocks = spec.channels.map((co, i) =>
      this.registerModule(`dense${i}`, new FaceApiDenseBlock(src, `dense${i}`, i === 0 ? 3 : spec.channels[i - 1], co, spec.convsPerBlock, i === 0)),
    );
    this.meanRgb = this.registerBuffer(
      'mean_rgb',
      tensor(
        FACEAPI_MEAN_RGB.map((v) => v / 255),
        [1, 3, 1, 1],
      ),
    );
  }

  private checkInput(x: Tensor): void {
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== FACEAPI_INPUT_SIZE || x.shape[3] !== FACEAPI_INPUT_SIZE) {
      throw new Error(`lrdif: FaceFeatureExtractor (${this.kind}): input must be [N, 3, 112, 112] RGB in [0, 1], got ${x.describe()}`);
    }
  }

  /**
   * Dense block outputs, NCHW: full [N,32,56,56], [N,64,28,28], [N,128,14,14], [N,256,7,7]
   * (tiny: the first three). `blocks` picks which to return (default all), in that order.
   * `fused` (default true) runs the fused inference passes, `chunk` faces at a time (default 4
   * on CPU adapters, where a chunk's activations then stay in the caches — a 64-face batch in
   * one piece streams 25 MB per pass and ran 2–3× slower per face on lavapipe — and 32 on
   * GPUs), copying each wanted block's output into place. The fused
   * passes record no gradients, so an input that requires one is an error there
   * (use `{ fused: false }`, the differentiable reference path, which runs the whole batch).
   */
  forwardBlocks(x: Tensor, opts: { fused?: boolean; chunk?: number; blocks?: readonly number[] } = {}): Tensor[] {
    this.checkInput(x);
    const fused = opts.fused ?? true;
    const wanted = opts.blocks ?? this.blocks.map((_, i) => i);
    for (const b of wanted) {
      if (!Number.isInteger(b) || b < 0 || b >= this.blocks.length)
        throw new Error(`lrdif: FaceFeatureExtractor (${this.kind}): block ${b} does not exist (0..${this.blocks.length - 1})`);
    }
    const upTo = Math.max(...wanted) + 1;
    if (!fused) {
      return tidy(() => {
        const outs: Tensor[] = [];
        let h = sub(x, this.meanRgb);
        for (let i = 0; i < upTo; i++) {
          h = this.blocks[i].forward(h);
          outs.push(h);
        }
        return wanted.map((b) => outs[b]);
      });
    }
    if (engine.needsGrad([x])) {
      throw new Error(
        `lrdif: FaceFeatureExtractor: the fused forward pass is inference-only, but the input ${x.describe()} requires a gradient (detach it, or pass { fused: false })`,
      );
    }
    const n = x.shape[0];
    const chunk = opts.chunk ?? faceApiChunk(x.ctx);
    if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`lrdif: FaceFeatureExtractor: chunk must be a positive integer, got ${chunk}`);
    if (n <= chunk) {
      return tidy(() => {
        const outs: Tensor[] = [];
        let h = this.normalizeFused(x, 0, n);
        for (let i = 0; i < upTo; i++) {
          h = this.blocks[i].forwardFused(h);
          outs.push(h);
        }
        return wanted.map((b) => outs[b]);
      });
    }
    const ctx = x.ctx;
    const sizes = this.blockShapes();
    const outs = wanted.map((b) => alloc([n, ...sizes[b]]));
    try {
      for (let start = 0; start < n; start += chunk) {
        const len = Math.min(chunk, n - start);
        tidy(() => {
          let h = this.normalizeFused(x, start, len);
          for (let i = 0; i < upTo; i++) {
            h = this.blocks[i].forwardFused(h);
            wanted.forEach((b, j) => {
              if (b === i) ctx.copy(h.buffer, 0, outs[j].buffer, ((start * h.size) / len) * 4, h.size * 4);
            });
          }
        });
      }
    } catch (e) {
      for (const o of outs) o.dispose();
      throw e;
    }
    return outs;
  }

  /** [C, H, W] of each block's output for 112×112 inputs. */
  private blockShapes(): number[][] {
    let size = FACEAPI_INPUT_SIZE;
    return this.channels.map((c) => {
      size = Math.ceil(size / 2);
      return [c, size, size];
    });
  }

  /** Images start … start + len − 1 of x, minus the mean RGB. */
  private normalizeFused(x: Tensor, start: number, len: number): Tensor {
    const [, c, h, w] = x.shape;
    const y = alloc([len, c, h, w]);
    const plane = h * w;
    x.ctx.dispatch(
      { shader: 'faceapi', entry: 'normalize_input', constants: { V: 4 } },
      {
        bindings: { a: x.buffer, y: y.buffer },
        uniforms: { total: y.size, plane, channels: 3, offset: start * c * plane, mean: [...FACEAPI_MEAN_RGB.map((v) => v / 255), 0] },
        workgroups: grid1d(x.ctx, Math.ceil(y.size / 4)),
      },
    );
    return y;
  }

  /** The pooled features face-api's heads read: [N, 256] (full) or [N, 128] (tiny). */
  forward(x: Tensor, opts: { fused?: boolean; chunk?: number } = {}): Tensor {
    return tidy(() => {
      const [last] = this.forwardBlocks(x, { ...opts, blocks: [this.blocks.length - 1] });
      return mean(last, [2, 3]);
    });
  }
}
