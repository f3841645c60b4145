/**
 * AdamW step over a model-like parameter set (square weights and their biases) of ~1M and
 * ~10M floats, and over the tiny LRDif's stage-1 parameters (181 tensors, most of them small):
 * lrdif's fused kernel (four tensors per dispatch where the device allows; a second row times it at
 * one per dispatch, in the same process) vs tfjs-webgpu's Adam optimizer
 * (tfjs has no AdamW; its Adam runs several elementwise kernels per tensor and no weight
 * decay) and jax-js with the AdamW update written in jax.numpy and jit-compiled (one fused
 * kernel per tensor shape; step-dependent scalars passed as 0-d arrays so nothing recompiles).
 * GB/s counts 7 float streams per element (read p, g, m, v; write p, m, v).
 * Each timed call ends by waiting for every update: lrdif and tfjs read back the smallest
 * parameter (their queues run in order), jax-js (lazy) blocks until all its arrays are ready.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as Jax from '@jax-js/jax';
import { tensor, engine, type Tensor } from '../src/node.js';
import { LrdifModel, makeLrdifConfig } from '../src/models/lrdif/index.js';
import { AdamW } from '../src/optim/index.js';
import type { CaseSpec, Harness, Impl, Suite } from './harness.js';
import { randomData } from './random-data.js';

interface ParamSet {
  label: string;
  /** Weight side d: each layer is a [d, d] weight and a [d] bias. */
  d: number;
  layers: number;
  /** Other shapes instead of the d×d layers. */
  shapes?: () => number[][];
  samples?: number;
}

/** The shapes of the tiny LRDif's stage-1 parameters (what `lrdif train --config tiny` updates). */
function tinyLrdifShapes(): number[][] {
  const model = new LrdifModel(makeLrdifConfig('tiny', { clipDim: 32 }), { seed: 0 });
  const shapes = model.stageParameters(1).map(([, p]) => [...p.shape]);
  model.dispose();
  return shapes;
}

const SETS: ParamSet[] = [
  { label: '1.05M floats', d: 512, layers: 4 },
  { label: '10.0M floats', d: 1000, layers: 10, samples: 5 },
  { label: 'the tiny LRDif stage 1', d: 0, layers: 0, shapes: tinyLrdifShapes },
];

const HP = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 };

function shapesOf(s: ParamSet): number[][] {
  if (s.shapes) return s.shapes();
  const out: number[][] = [];
  for (let i = 0; i < s.layers; i++) out.push([s.d, s.d], [s.d]);
  return out;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

interface Layer {
  shape: number[];
  p: Float32Array<ArrayBuffer>;
  g: Float32Array<ArrayBuffer>;
}

function oursImpl(data: Layer[], perDispatch?: 1 | 4): { impl: Impl<void>; dispose: () => void } {
  const params: Tensor[] = data.map(({ shape, p, g }) => {
    const t = engine.keep(tensor(p, shape));
    t.requiresGrad = true;
    t.grad = engine.keep(tensor(g, shape));
    return t;
  });
  const opt = new AdamW(params, { lr: HP.lr, betas: [HP.beta1, HP.beta2], eps: HP.eps, weightDecay: HP.weightDecay, perDispatch });
  const probe = params[params.length - 1];
  return {
    impl: {
      run: () => opt.step(),
      finish: async () => {
        await probe.data();
      },
    },
    dispose: () => {
      opt.dispose();
      for (const p of params) {
        p.grad?.dispose();
        p.dispose();
      }
    },
  };
}

function tfImpl(tf: typeof TfCore, data: Layer[]): { impl: Impl<void>; dispose: () => void } {
  const vars = data.map(({ shape, p }, i) => tf.variable(tf.tensor(p, shape), true, `adamw_bench_${i}_${Math.random()}`));
  const grads: Array<{ name: string; tensor: TfCore.Tensor }> = data.map(({ shape, g }, i) => ({ name: vars[i].name, tensor: tf.tensor(g, shape) }));
  const opt = tf.train.adam(HP.lr, HP.beta1, HP.beta2, HP.eps);
  const probe = vars[vars.length - 1];
  return {
    impl: {
      run: () => opt.applyGradients(grads),
      finish: async () => {
        await probe.data();
      },
      gpuMs: async () => {
        const info = await tf.time(() => opt.applyGradients(grads));
        return typeof info.kernelMs === 'number' ? info.kernelMs : null;
      },
    },
    dispose: () => {
      opt.dispose();
      for (const v of vars) v.dispose();
      for (const g of grads) g.tensor.dispose();
    },
  };
}

function jaxImpl(jax: typeof Jax, data: Layer[]): { impl: Impl<void>; dispose: () => void } {
  const np = jax.numpy;
  type A = Jax.Array;
  // jax-js functions take ownership of their arguments: `.ref` keeps a second reference.
  const update = jax.jit((p: A, g: A, m: A, v: A, decay: A, b1: A, omb1: A, b2: A, omb2: A, stepSize: A, invBc2Sqrt: A, eps: A) => {
    const m2 = m.mul(b1).add(g.ref.mul(omb1));
    const v2 = v.mul(b2).add(g.ref.mul(g).mul(omb2));
    const denom = np.sqrt(v2.ref).mul(invBc2Sqrt).add(eps);
    const p2 = p.mul(decay).sub(m2.ref.div(denom).mul(stepSize));
    return [p2, m2, v2];
  });
  const state = data.map(({ shape, p, g }) => ({
    p: np.array(p).reshape(shape),
    g: np.array(g).reshape(shape),
    m: np.zeros(shape),
    v: np.zeros(shape),
  }));
  let t = 0;
  return {
    impl: {
      run: () => {
        t++;
        const { lr, beta1: b1, beta2: b2, eps, weightDecay: wd } = HP;
        const scalars = [1 - lr * wd, b1, 1 - b1, b2, 1 - b2, lr / (1 - b1 ** t), 1 / Math.sqrt(1 - b2 ** t), eps];
        for (const s of state) {
          const [c0, c1, c2, c3, c4, c5, c6, c7] = scalars.map((x) => np.array(x));
          const [p2, m2, v2] = update(s.p, s.g.ref, s.m, s.v, c0, c1, c2, c3, c4, c5, c6, c7) as A[];
          s.p = p2;
          s.m = m2;
          s.v = v2;
        }
      },
      // jax-js is lazy: wait for every updated array, not just one, or most updates never run
      finish: async () => {
        await jax.blockUntilReady(state.map((s) => [s.p, s.m, s.v]));
      },
    },
    dispose: () => {
      for (const s of state) for (const a of [s.p, s.g, s.m, s.v]) a.dispose();
      update.dispose();
    },
  };
}

async function runSet(h: Harness, s: ParamSet): Promise<void> {
  const data = shapesOf(s).map((shape, i) => ({ shape, p: randomData(sizeOf(shape), 1 + i, 2), g: randomData(sizeOf(shape), 100 + i, 0.02) }));
  const total = data.reduce((a, d) => a + d.p.length, 0);
  const ours = oursImpl(data);
  const spec: CaseSpec = {
    name: 'adamw step',
    shape: `${s.label} in ${data.length} tensors`,
    bytes: 7 * 4 * total,
    ours: ours.impl,
    peers: {},
    samples: s.samples,
  };
  const disposers = [ours.dispose];
  const { tf, jax } = h.peers;
  if (tf) {
    const r = tfImpl(tf, data);
    spec.peers!['tfjs-webgpu'] = r.impl;
    disposers.push(r.dispose);
  }
  if (jax) {
    const r = jaxImpl(jax, data);
    spec.peers!['jax-js'] = r.impl;
    disposers.push(r.dispose);
  }
  try {
    await h.case(spec);
  } finally {
    for (const d of disposers) d();
  }
  // the same step at one tensor per dispatch, in the same process (the row above is four per dispatch where the device allows)
  const one = oursImpl(data, 1);
  try {
    await h.case({ name: 'adamw step, 1 tensor per dispatch', shape: spec.shape, bytes: spec.bytes, ours: one.impl, samples: s.samples });
  } finally {
    one.dispose();
  }
}

export const adamwSuite: Suite = {
  name: 'adamw',
  description:
    "AdamW step over ~1M and ~10M parameters and the tiny LRDif's 181 tensors (fused kernel, four tensors per dispatch), vs one tensor per dispatch, tfjs-webgpu Adam and jax-js jit AdamW",
  async run(h) {
    for (const s of SETS) await runSet(h, s);
  },
};
