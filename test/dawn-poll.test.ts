import { afterAll, describe, expect, it } from 'vitest';
import { promisify } from 'node:util';
import { dawnPollCount, matmul, setDawnPolling, tidy, type Tensor } from '../src/node.js';
import { gpu } from './helpers/gpu.js';
import { gpuTensor, randArray } from './helpers/ref.js';

/**
 * Waits on GPU work for at least 150 ms (chained 256×256 products, each round read back) and
 * counts dawn.node's polls meanwhile.
 */
async function longWait(): Promise<{ ms: number; reads: number; polls: number; finite: boolean }> {
  await gpu();
  const a = gpuTensor(
    Array.from(randArray([256, 256], 7), (v) => v / 10),
    [256, 256],
  );
  const t0 = performance.now();
  const p0 = dawnPollCount();
  let reads = 0;
  let finite = true;
  while (performance.now() - t0 < 150 || reads < 2) {
    const y: Tensor = tidy(() => {
      let z = a;
      for (let i = 0; i < 16; i++) z = matmul(z, a);
      return z;
    });
    const v = (await y.data()) as Float32Array;
    finite &&= v.every(Number.isFinite);
    y.dispose();
    reads++;
  }
  const r = { ms: performance.now() - t0, reads, polls: dawnPollCount() - p0, finite };
  a.dispose();
  return r;
}

describe('dawn.node polling', () => {
  afterAll(() => {
    setDawnPolling('paced');
  });

  it('paced (the default): a long wait polls about once a millisecond, not at every turn of the event loop', async () => {
    await gpu();
    await longWait(); // compiles the kernel (a synchronous pipeline build blocks the polls)
    expect(setDawnPolling('spin')).toBe('paced');
    const spin = await longWait();
    setDawnPolling('paced');
    const paced = await longWait();
    expect(spin.finite && paced.finite).toBe(true);
    // paced: at most the quarter-millisecond spin at the start of each wait, then one poll per ms
    expect(paced.polls).toBeLessThan(400 * paced.reads + 1.5 * paced.ms);
    // dawn.node's own loop polls many times a millisecond
    expect(spin.polls / spin.ms).toBeGreaterThan((3 * paced.polls) / paced.ms);
  }, 60_000);

  it('leaves every other setImmediate call as it was: arguments, order, promisify, clearImmediate', async () => {
    await gpu();
    const order: string[] = [];
    await new Promise<void>((resolve) => {
      setImmediate((a: string, b: number) => order.push(`${a}${b}`), 'x', 1);
      const cancelled = setImmediate(() => order.push('cancelled'));
      clearImmediate(cancelled);
      setImmediate(() => {
        order.push('last');
        resolve();
      });
    });
    expect(order).toEqual(['x1', 'last']);
    expect(await promisify(setImmediate)('value')).toBe('value');
  });

  it('refuses an unknown LRDIF_DAWN_POLL naming it', async () => {
    const { createNodeContext } = await import('../src/node.js');
    const before = process.env.LRDIF_DAWN_POLL;
    process.env.LRDIF_DAWN_POLL = 'sometimes';
    try {
      await expect(createNodeContext()).rejects.toThrow(/LRDIF_DAWN_POLL is 'sometimes'; expected paced or spin/);
    } finally {
      if (before === undefined) delete process.env.LRDIF_DAWN_POLL;
      else process.env.LRDIF_DAWN_POLL = before;
    }
  });
});
