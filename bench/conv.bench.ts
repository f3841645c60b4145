/**
 * conv2d: 3×3 convolutions at LRDif's first-stage size ([8, 48, 56, 56] → 48, stride 1 and 2,
 * padding 1) and the 3×3 depthwise convolution of its MLP blocks ([8, 144, 56, 56]), forward vs
 * tfjs-webgpu and jax-js; and lrdif's forward + backward (dx and dweight) for the same cases.
 * GFLOP/s = 2·N·O·OH·OW·(C/groups)·kh·kw per forward (×3 with the backward).
 *
 * tfjs runs NHWC (its native layout; NCHW convolutions are not what its WebGPU kernels are
 * written for) on the same values transposed; jax-js runs NCHW like lrdif, jit-compiled.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as Jax from '@jax-js/jax';
import { backward, conv2d, tensor, type Conv2dOptions, type Tensor } from '../src/node.js';
import type { CaseSpec, Harness, Impl, Suite } from './harness.js';
import { randomData } from './random-data.js';

interface ConvCase {
  label: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  groups: number;
  samples?: number;
}

const CASES: ConvCase[] = [
  { label: '3×3 s1', x: [8, 48, 56, 56], w: [48, 48, 3, 3], stride: 1, groups: 1, samples: 5 },
  { label: '3×3 s2', x: [8, 48, 56, 56], w: [48, 48, 3, 3], stride: 2, groups: 1, samples: 5 },
  { label: 'depthwise 3×3', x: [8, 144, 56, 56], w: [144, 1, 3, 3], stride: 1, groups: 144, samples: 5 },
];

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function outSize(c: ConvCase): number {
  return Math.floor((c.x[2] + 2 - 3) / c.stride) + 1;
}

function flopsOf(c: ConvCase): number {
  const o = outSize(c);
  return 2 * c.x[0] * c.w[0] * o * o * c.w[1] * c.w[2] * c.w[3];
}

function tensorImpl(make: () => Tensor): Impl<Tensor> {
  return {
    run: make,
    finish: async (rs) => {
      await rs[rs.length - 1].data();
      for (const r of rs) r.dispose();
    },
  };
}

function tfImpl(tf: typeof TfCore, c: ConvCase, xData: Float32Array<ArrayBuffer>, wData: Float32Array<ArrayBuffer>): { impl: Impl<TfCore.Tensor>; dispose: () => void } {
  // NCHW → NHWC input; OIHW → HWIO filter (HW, C, multiplier for depthwise)
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(xData, c.x), [0, 2, 3, 1]));
  const w = tf.tidy(() => tf.transpose(tf.tensor4d(wData, c.w), [2, 3, 1, 0]));
  const f = c.groups > 1 ? tf.tidy(() => tf.reshape(w, [3, 3, c.groups, 1])) : w;
  const op = () =>
    c.groups > 1 ? tf.depthwiseConv2d(x as TfCore.Tensor4D, f as TfCore.Tensor4D, c.stride, 1) : tf.conv2d(x as TfCore.Tensor4D, f as TfCore.Tensor4D, c.stride, 1);
  return {
    impl: {
      run: op,
      finish: async (rs) => {
        await rs[rs.length - 1].data();
        for (const r of rs) r.dispose();
      },
      gpuMs: async () => {
        const info = await tf.time(() => op().dispose());
        return typeof info.kernelMs === 'number' ? info.kernelMs : null;
      },
    },
    dispose: () => {
      x.dispose();
      w.dispose();
      if (f !== w) f.dispose();
    },
  };
}

function jaxImpl(jax: typeof Jax, c: ConvCase, xData: Float32Array<ArrayBuffer>, wData: Float32Array<ArrayBuffer>): { impl: Impl<Jax.Array>; dispose: () => void } {
  const np = jax.numpy;
  const x = np.array(xData).reshape(c.x);
  const w = np.array(wData).reshape(c.w);
  const f = jax.jit((a: Jax.Array, b: Jax.Array) =>
    jax.lax.convGeneralDilated(
      a,
      b,
      [c.stride, c.stride],
      [
        [1, 1],
        [1, 1],
      ],
      { featureGroupCount: c.groups },
    ),
  );
  return {
    impl: {
      // jax-js functions take ownership of their arguments: pass new references
      run: () => f(x.ref, w.ref),
      finish: async (rs) => {
        for (let i = 0; i < rs.length - 1; i++) rs[i].dispose();
        await rs[rs.length - 1].data();
      },
    },
    dispose: () => {
      x.dispose();
      w.dispose();
      f.dispose();
    },
  };
}

async function forwardCase(h: Harness, c: ConvCase): Promise<void> {
  const xData = randomData(size(c.x), 3 + c.x[1]);
  const wData = randomData(size(c.w), 11 + c.w[0]);
  const x = tensor(xData, c.x);
  const w = tensor(wData, c.w);
  const opts: Conv2dOptions = { stride: c.stride, padding: 1, groups: c.groups };
  const spec: CaseSpec = {
    name: `conv2d ${c.label}`,
    shape: `[${c.x.join(', ')}] * [${c.w.join(', ')}]`,
    flops: flopsOf(c),
    ours: tensorImpl(() => conv2d(x, w, null, opts)),
    peers: {},
    samples: c.samples,
  };
  const cleanup: Array<() => void> = [];
  if (h.peers.tf) {
    const t = tfImpl(h.peers.tf, c, xData, wData);
    spec.peers!['tfjs-webgpu'] = t.impl;
    cleanup.push(t.dispose);
  }
  if (h.peers.jax) {
    const j = jaxImpl(h.peers.jax, c, xData, wData);
    spec.peers!['jax-js'] = j.impl;
    cleanup.push(j.dispose);
  }
  try {
    await h.case(spec);
  } finally {
    x.dispose();
    w.dispose();
    for (const f of cleanup) f();
  }
}

/** lrdif forward + backward (dx, dweight); the gradients of each call are detached and freed. */
async function trainingCase(h: Harness, c: ConvCase): Promise<void> {
  const x = tensor(randomData(size(c.x), 5 + c.x[1]), c.x);
  const w = tensor(randomData(size(c.w), 13 + c.w[0]), c.w);
  x.requiresGrad = true;
  w.requiresGrad = true;
  const o = outSize(c);
  const dy = tensor(randomData(c.x[0] * c.w[0] * o * o, 17), [c.x[0], c.w[0], o, o]);
  const opts: Conv2dOptions = { stride: c.stride, padding: 1, groups: c.groups };
  const ours: Impl<Tensor[]> = {
    run: () => {
      const y = conv2d(x, w, null, opts);
      backward(y, { grad: dy });
      y.dispose();
      const grads = [x.grad!, w.grad!];
      x.grad = null;
      w.grad = null;
      return grads;
    },
    finish: async (rs) => {
      await rs[rs.length - 1][1].data();
      for (const r of rs) for (const t of r) t.dispose();
    },
  };
  try {
    await h.case({
      name: `conv2d ${c.label} fwd+bwd`,
      shape: `[${c.x.join(', ')}] * [${c.w.join(', ')}]`,
      flops: 3 * flopsOf(c),
      ours,
      samples: 3,
    });
  } finally {
    x.dispose();
    w.dispose();
    dy.dispose();
  }
}

export const convSuite: Suite = {
  name: 'conv',
  description: 'conv2d 3×3 (stride 1, 2) and depthwise 3×3 at LRDif stage-1 sizes, vs tfjs-webgpu and jax-js; lrdif fwd+bwd',
  async run(h) {
    for (const c of CASES) await forwardCase(h, c);
    for (const c of CASES) await trainingCase(h, c);
  },
};
