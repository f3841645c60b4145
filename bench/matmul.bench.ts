/**
 * matmul: square sizes and LRDif's 1×1-convolution shapes (the token mixers of its
 * transformer stages), single and batched (batch 8 sharing the weight), vs tfjs-webgpu and
 * jax-js. GFLOP/s = 2·M·N·K per op.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as Jax from '@jax-js/jax';
import { matmul, tensor, type Tensor } from '../src/node.js';
import type { CaseSpec, Harness, Impl, Suite } from './harness.js';
import { randomData } from './random-data.js';

interface MatmulCase {
  batch: number;
  M: number;
  K: number;
  N: number;
  samples?: number;
}

const CASES: MatmulCase[] = [
  { batch: 1, M: 256, K: 256, N: 256 },
  { batch: 1, M: 512, K: 512, N: 512 },
  { batch: 1, M: 1024, K: 1024, N: 1024 },
  { batch: 1, M: 2048, K: 2048, N: 2048, samples: 3 },
  // LRDif stages: [tokens × C]·[C × 3C]
  { batch: 1, M: 3136, K: 48, N: 144 },
  { batch: 1, M: 784, K: 96, N: 288 },
  { batch: 1, M: 196, K: 192, N: 576 },
  { batch: 1, M: 49, K: 384, N: 1152 },
  { batch: 8, M: 3136, K: 48, N: 144, samples: 5 },
  { batch: 8, M: 784, K: 96, N: 288, samples: 5 },
  { batch: 8, M: 196, K: 192, N: 576, samples: 5 },
  { batch: 8, M: 49, K: 384, N: 1152, samples: 5 },
];

function tfImpl(tf: typeof TfCore, a: TfCore.Tensor, b: TfCore.Tensor): Impl<TfCore.Tensor> {
  return {
    run: () => tf.matMul(a, b),
    finish: async (rs) => {
      await rs[rs.length - 1].data();
      for (const r of rs) r.dispose();
    },
    gpuMs: async () => {
      const info = await tf.time(() => tf.matMul(a, b).dispose());
      return typeof info.kernelMs === 'number' ? info.kernelMs : null;
    },
  };
}

function jaxImpl(np: typeof Jax.numpy, mm: (x: Jax.Array, y: Jax.Array) => Jax.Array, a: Jax.Array, b: Jax.Array): Impl<Jax.Array> {
  void np;
  return {
    // jax-js functions take ownership of their arguments: pass new references
    run: () => mm(a.ref, b.ref),
    finish: async (rs) => {
      for (let i = 0; i < rs.length - 1; i++) rs[i].dispose();
      await rs[rs.length - 1].data(); // consumes the last one
    },
  };
}

async function runCase(h: Harness, c: MatmulCase): Promise<void> {
  const { batch, M, K, N } = c;
  const aShape = batch > 1 ? [batch, M, K] : [M, K];
  const aData = randomData(batch * M * K, 1 + M + K);
  const bData = randomData(K * N, 7 + N);
  const a = tensor(aData, aShape);
  const b = tensor(bData, [K, N]);
  const ours: Impl<Tensor> = {
    run: () => matmul(a, b),
    finish: async (rs) => {
      await rs[rs.length - 1].data();
      for (const r of rs) r.dispose();
    },
  };
  const spec: CaseSpec = {
    name: 'matmul',
    shape: `${batch > 1 ? `${batch}×` : ''}[${M}×${K}]·[${K}×${N}]`,
    flops: 2 * batch * M * N * K,
    ours,
    peers: {},
    samples: c.samples,
  };
  const cleanup: Array<() => void> = [];
  const { tf, jax } = h.peers;
  if (tf) {
    const ta = tf.tensor(aData, aShape);
    const tb = tf.tensor(bData, [K, N]);
    spec.peers!['tfjs-webgpu'] = tfImpl(tf, ta, tb);
    cleanup.push(() => {
      ta.dispose();
      tb.dispose();
    });
  }
  if (jax) {
    const np = jax.numpy;
    const ja = np.array(aData).reshape(aShape);
    const jb = np.array(bData).reshape([K, N]);
    // jit: jax-js's compiled path (the one its docs recommend for speed)
    const mm = jax.jit((x: Jax.Array, y: Jax.Array) => np.matmul(x, y));
    spec.peers!['jax-js'] = jaxImpl(np, mm, ja, jb);
    cleanup.push(() => {
      ja.dispose();
      jb.dispose();
      mm.dispose();
    });
  }
  try {
    await h.case(spec);
  } finally {
    a.dispose();
    b.dispose();
    for (const f of cleanup) f();
  }
}

/** With --gpu-sizes (minutes per op on a CPU adapter). */
const GPU_CASES: MatmulCase[] = [{ batch: 1, M: 4096, K: 4096, N: 4096, samples: 3 }];

export const matmulSuite: Suite = {
  name: 'matmul',
  description: 'matmul: square 256–2048 (4096 with --gpu-sizes) and LRDif 1×1-conv shapes (single and batch 8), vs tfjs-webgpu and jax-js',
  async run(h) {
    for (const c of h.options.gpuSizes ? [...CASES.slice(0, 4), ...GPU_CASES, ...CASES.slice(4)] : CASES) await runCase(h, c);
  },
};
