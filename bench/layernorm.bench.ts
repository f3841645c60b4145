/**
 * Layer norm: lrdif's `layerNorm` over the last axis of LRDif's stage-1 tokens [25088, 48]
 * (8 images × 3136 tokens × 48 channels) and `layerNormChannels` over the channels of the
 * NCHW map [8, 48, 56, 56] (Restormer-style), vs tfjs-webgpu (`tf.moments` + elementwise
 * ops; tfjs has no layer-norm op) and jax-js (jax.numpy mean / var + elementwise, jit).
 * Biased variance, eps 1e-5, weight and bias [C]. GB/s counts one read and one write of x.
 * Before timing, each peer's result on a small input is compared with ours (max abs diff
 * printed; the case fails above 1e-4). jax-js is lazy: a timed call blocks until every
 * result is ready.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as Jax from '@jax-js/jax';
import { layerNorm, layerNormChannels, tensor, type Tensor } from '../src/node.js';
import type { CaseSpec, Harness, Impl, Suite } from './harness.js';
import { randomData } from './random-data.js';

type Kind = 'last' | 'channels';

interface LnCase {
  kind: Kind;
  shape: number[];
  samples?: number;
}

const CASES: LnCase[] = [
  { kind: 'last', shape: [25088, 48] },
  { kind: 'channels', shape: [8, 48, 56, 56] },
];

const EPS = 1e-5;
const TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
/** Normalized axis and the shape weight/bias broadcast to. */
const axisOf = (kind: Kind, shape: number[]) => (kind === 'last' ? shape.length - 1 : 1);
const paramShape = (kind: Kind, c: number) => (kind === 'last' ? [c] : [c, 1, 1]);

function oursOp(kind: Kind, x: Tensor, w: Tensor, b: Tensor): Tensor {
  return kind === 'last' ? layerNorm(x, w, b, EPS) : layerNormChannels(x, w, b, EPS);
}

function tfOp(tf: typeof TfCore, axis: number, x: TfCore.Tensor, w: TfCore.Tensor, b: TfCore.Tensor): TfCore.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, axis, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, EPS))), w), b);
  });
}

function jaxOp(jax: typeof Jax, axis: number) {
  const np = jax.numpy;
  return jax.jit((x: Jax.Array, w: Jax.Array, b: Jax.Array) => {
    const mean = np.mean(x.ref, axis, { keepdims: true });
    const variance = np.var_(x.ref, axis, { keepdims: true });
    return x
      .sub(mean)
      .div(np.sqrt(variance.add(EPS)))
      .mul(w)
      .add(b);
  });
}

interface Inputs {
  x: Float32Array<ArrayBuffer>;
  w: Float32Array<ArrayBuffer>;
  b: Float32Array<ArrayBuffer>;
}

function inputsFor(shape: number[], c: number, seed: number): Inputs {
  return { x: randomData(sizeOf(shape), seed, 4, 0.5), w: randomData(c, seed + 1, 1, 1), b: randomData(c, seed + 2, 0.5) };
}

/** Peers vs lrdif on small inputs of both kinds; throws when a peer disagrees. */
async function verify(h: Harness): Promise<void> {
  const { tf, jax } = h.peers;
  for (const { kind, shape } of [
    { kind: 'last' as Kind, shape: [37, 48] },
    { kind: 'channels' as Kind, shape: [2, 48, 5, 7] },
  ]) {
    const axis = axisOf(kind, shape);
    const c = shape[axis];
    const pShape = paramShape(kind, c);
    const d = inputsFor(shape, c, 3);
    const x = tensor(d.x, shape);
    const w = tensor(d.w, [c]);
    const b = tensor(d.b, [c]);
    const y = oursOp(kind, x, w, b);
    const ours = await y.data();
    for (const t of [x, w, b, y]) t.dispose();
    if (tf) {
      const [tx, tw, tb] = [tf.tensor(d.x, shape), tf.tensor(d.w, pShape), tf.tensor(d.b, pShape)];
      const ty = tfOp(tf, axis, tx, tw, tb);
      const diff = maxAbsDiff(ours, await ty.data());
      for (const t of [tx, tw, tb, ty]) t.dispose();
      console.log(`  layernorm (${kind}) check: tfjs-webgpu max abs diff ${diff.toExponential(2)}`);
      if (!(diff <= TOL)) throw new Error(`layernorm (${kind}): tfjs-webgpu differs from lrdif by ${diff}`);
    }
    if (jax) {
      const np = jax.numpy;
      const f = jaxOp(jax, axis);
      const jy = f(np.array(d.x).reshape(shape), np.array(d.w).reshape(pShape), np.array(d.b).reshape(pShape));
      const diff = maxAbsDiff(ours, (await jy.data()) as Float32Array);
      f.dispose();
      console.log(`  layernorm (${kind}) check: jax-js max abs diff ${diff.toExponential(2)}`);
      if (!(diff <= TOL)) throw new Error(`layernorm (${kind}): jax-js differs from lrdif by ${diff}`);
    }
  }
}

async function runCase(h: Harness, lc: LnCase): Promise<void> {
  const { kind, shape } = lc;
  const axis = axisOf(kind, shape);
  const c = shape[axis];
  const pShape = paramShape(kind, c);
  const d = inputsFor(shape, c, 17 + c);
  const x = tensor(d.x, shape);
  const w = tensor(d.w, [c]);
  const b = tensor(d.b, [c]);
  const ours: Impl<Tensor> = {
    run: () => oursOp(kind, x, w, b),
    finish: async (rs) => {
      await rs[rs.length - 1].data();
      for (const r of rs) r.dispose();
    },
  };
  const spec: CaseSpec = {
    name: kind === 'last' ? 'layerNorm' : 'layerNormChannels',
    shape: `[${shape.join(', ')}], ${kind === 'last' ? 'last axis' : 'channel axis'}, affine`,
    bytes: 2 * 4 * sizeOf(shape),
    ours,
    peers: {},
    samples: lc.samples,
  };
  const cleanup: Array<() => void> = [];
  const { tf, jax } = h.peers;
  if (tf) {
    const [tx, tw, tb] = [tf.tensor(d.x, shape), tf.tensor(d.w, pShape), tf.tensor(d.b, pShape)];
    const impl: Impl<TfCore.Tensor> = {
      run: () => tfOp(tf, axis, tx, tw, tb),
      finish: async (rs) => {
        await rs[rs.length - 1].data();
        for (const r of rs) r.dispose();
      },
      gpuMs: async () => {
        const info = await tf.time(() => tfOp(tf, axis, tx, tw, tb).dispose());
        return typeof info.kernelMs === 'number' ? info.kernelMs : null;
      },
    };
    spec.peers!['tfjs-webgpu'] = impl;
    cleanup.push(() => {
      for (const t of [tx, tw, tb]) t.dispose();
    });
  }
  if (jax) {
    const np = jax.numpy;
    const [jx, jw, jb] = [np.array(d.x).reshape(shape), np.array(d.w).reshape(pShape), np.array(d.b).reshape(pShape)];
    const f = jaxOp(jax, axis);
    const impl: Impl<Jax.Array> = {
      // jax-js functions take ownership of their arguments: pass new references
      run: () => f(jx.ref, jw.ref, jb.ref),
      finish: async (rs) => {
        await jax.blockUntilReady(rs);
        for (let i = 0; i < rs.length - 1; i++) rs[i].dispose();
        await rs[rs.length - 1].data(); // consumes the last one
      },
    };
    spec.peers!['jax-js'] = impl;
    cleanup.push(() => {
      for (const a of [jx, jw, jb]) a.dispose();
      f.dispose();
    });
  }
  try {
    await h.case(spec);
  } finally {
    for (const t of [x, w, b]) t.dispose();
    for (const f of cleanup) f();
  }
}

export const layernormSuite: Suite = {
  name: 'layernorm',
  description: 'layer norm: last axis [25088, 48] and NCHW channels [8, 48, 56, 56], vs tfjs-webgpu (moments) and jax-js (mean/var, jit)',
  async run(h) {
    await verify(h);
    for (const c of CASES) await runCase(h, c);
  },
};
