/**
 * softmax over the last axis: LRDif's window-attention rows ([64·8 windows × 49 queries, 49
 * keys]) and a classifier-sized [4096, 1000], vs tfjs-webgpu `tf.softmax` and jax-js
 * `jax.nn.softmax` (jit). GB/s counts one read and one write of the tensor.
 * Before timing, each peer's result on a small input is compared with ours (max abs diff
 * printed; the case fails above 1e-4). jax-js is lazy: a timed call blocks until every
 * result is ready, not just the last, or the others would never run.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as Jax from '@jax-js/jax';
import { softmax, tensor, type Tensor } from '../src/node.js';
import type { CaseSpec, Harness, Impl, Suite } from './harness.js';
import { randomData } from './random-data.js';

interface SoftmaxCase {
  rows: number;
  cols: number;
  samples?: number;
}

const CASES: SoftmaxCase[] = [
  { rows: 25088, cols: 49 },
  { rows: 4096, cols: 1000 },
];

const TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Peers vs lrdif on a small [37, 49] input; throws when a peer disagrees. */
async function verify(h: Harness): Promise<void> {
  const shape = [37, 49];
  const data = randomData(37 * 49, 5, 8);
  const x = tensor(data, shape);
  const y = softmax(x, -1);
  const ours = await y.data();
  x.dispose();
  y.dispose();
  const { tf, jax } = h.peers;
  if (tf) {
    const tx = tf.tensor(data, shape);
    const ty = tf.softmax(tx, -1);
    const d = maxAbsDiff(ours, await ty.data());
    tx.dispose();
    ty.dispose();
    console.log(`  softmax check: tfjs-webgpu max abs diff ${d.toExponential(2)}`);
    if (!(d <= TOL)) throw new Error(`softmax: tfjs-webgpu differs from lrdif by ${d}`);
  }
  if (jax) {
    const jy = jax.nn.softmax(jax.numpy.array(data).reshape(shape), -1);
    const d = maxAbsDiff(ours, (await jy.data()) as Float32Array);
    console.log(`  softmax check: jax-js max abs diff ${d.toExponential(2)}`);
    if (!(d <= TOL)) throw new Error(`softmax: jax-js differs from lrdif by ${d}`);
  }
}

async function runCase(h: Harness, c: SoftmaxCase): Promise<void> {
  const { rows, cols } = c;
  const shape = [rows, cols];
  const data = randomData(rows * cols, 11 + cols, 8);
  const x = tensor(data, shape);
  const ours: Impl<Tensor> = {
    run: () => softmax(x, -1),
    finish: async (rs) => {
      await rs[rs.length - 1].data();
      for (const r of rs) r.dispose();
    },
  };
  const spec: CaseSpec = {
    name: 'softmax',
    shape: `[${rows}, ${cols}], axis -1`,
    bytes: 2 * 4 * rows * cols,
    ours,
    peers: {},
    samples: c.samples,
  };
  const cleanup: Array<() => void> = [];
  const { tf, jax } = h.peers;
  if (tf) {
    const tx = tf.tensor(data, shape);
    const impl: Impl<TfCore.Tensor> = {
      run: () => tf.softmax(tx, -1),
      finish: async (rs) => {
        await rs[rs.length - 1].data();
        for (const r of rs) r.dispose();
      },
      gpuMs: async () => {
        const info = await tf.time(() => tf.softmax(tx, -1).dispose());
        return typeof info.kernelMs === 'number' ? info.kernelMs : null;
      },
    };
    spec.peers!['tfjs-webgpu'] = impl;
    cleanup.push(() => tx.dispose());
  }
  if (jax) {
    const jx = jax.numpy.array(data).reshape(shape);
    const sm = jax.jit((a: Jax.Array) => jax.nn.softmax(a, -1));
    const impl: Impl<Jax.Array> = {
      // jax-js functions take ownership of their arguments: pass a new reference
      run: () => sm(jx.ref),
      finish: async (rs) => {
        await jax.blockUntilReady(rs);
        for (let i = 0; i < rs.length - 1; i++) rs[i].dispose();
        await rs[rs.length - 1].data(); // consumes the last one
      },
    };
    spec.peers!['jax-js'] = impl;
    cleanup.push(() => {
      jx.dispose();
      sm.dispose();
    });
  }
  try {
    await h.case(spec);
  } finally {
    x.dispose();
    for (const f of cleanup) f();
  }
}

export const softmaxSuite: Suite = {
  name: 'softmax',
  description: 'softmax over the last axis: LRDif window-attention rows [25088, 49] and [4096, 1000], vs tfjs-webgpu and jax-js',
  async run(h) {
    await verify(h);
    for (const c of CASES) await runCase(h, c);
  },
};
