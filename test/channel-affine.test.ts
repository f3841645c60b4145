import { describe, it, expect, beforeAll, vi } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { backward, channelAffine, tensor } from '../src/node.js';
// the float64 reference is shared with `lrdif selftest`
import { refChannelAffine, refChannelAffineGrads } from '../src/selftest/reference/channel-affine.js';

/** The channel_affine entries dispatched while `f` runs. */
async function entriesOf(f: () => Promise<void>): Promise<string[]> {
  const spy = vi.spyOn(await gpu(), 'dispatch');
  try {
    await f();
    return spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry}`)).filter((e) => e.startsWith('channel_affine:'));
  } finally {
    spy.mockRestore();
  }
}

describe('channelAffine', () => {
  beforeAll(gpu);

  // H·W = 24 (whole quads: apply4, grads4), 15 and 1 (apply, grads); several workgroups' worth
  for (const [shape, quads] of [
    [[2, 3, 4, 6], true],
    [[2, 3, 3, 5], false],
    [[3, 5, 1, 1], false],
    [[4, 40, 28, 28], true],
  ] as Array<[number[], boolean]>) {
    it(`${JSON.stringify(shape)}: forward, dx and dk against the float64 reference (${quads ? 'vec4' : 'scalar'} kernels)`, async () => {
      const kShape = [shape[0], 2 * shape[1]];
      const xd = randArray(shape, 1, -2, 2);
      const kd = randArray(kShape, 2, -2, 2);
      const gd = randArray(shape, 3, -1, 1);
      const entries = await entriesOf(async () => {
        const x = gpuTensor(xd, shape, true);
        const k = gpuTensor(kd, kShape, true);
        const y = channelAffine(x, k);
        expect(y.shape).toEqual(shape);
        expectClose(await y.data(), refChannelAffine(xd, kd, shape), 1e-6, 1e-6, 'y');
        backward(y, { grad: gpuTensor(gd, shape) });
        const ref = refChannelAffineGrads(xd, kd, gd, shape);
        expectClose(await x.grad!.data(), ref.dx, 1e-6, 1e-6, 'dx');
        expectClose(await k.grad!.data(), ref.dk, 1e-5, 1e-4, 'dk');
        for (const t of [x, k]) t.grad!.dispose();
        for (const t of [x, k, y]) t.dispose();
      });
      const suffix = quads ? '4' : '';
      expect(entries).toEqual([`channel_affine:apply${suffix}`, `channel_affine:apply${suffix}`, `channel_affine:grads${suffix}`]);
    });
  }

  for (const shape of [
    [2, 3, 2, 2],
    [2, 2, 3, 1],
  ]) {
    it(`${JSON.stringify(shape)}: x and k against finite differences`, async () => {
      const kShape = [shape[0], 2 * shape[1]];
      await checkGradients({
        inputs: [
          { data: randArray(shape, 11, -2, 2), shape },
          { data: randArray(kShape, 12, -2, 2), shape: kShape },
        ],
        gpuFn: (x, k) => channelAffine(x, k),
        refFn: (x, k) => refChannelAffine(x, k, shape),
      });
    });
  }

  it('only k requires a gradient: no dx is computed', async () => {
    const shape = [2, 2, 2, 4];
    const entries = await entriesOf(async () => {
      const x = gpuTensor(randArray(shape, 21), shape);
      const k = gpuTensor(randArray([2, 4], 22), [2, 4], true);
      const y = channelAffine(x, k);
      backward(y, { grad: y });
      expect(k.grad!.shape).toEqual([2, 4]);
      k.grad!.dispose();
      for (const t of [x, k, y]) t.dispose();
    });
    expect(entries).toEqual(['channel_affine:apply4', 'channel_affine:grads4']);
  });

  it('empty planes give an empty output and a zero dk', async () => {
    const x = gpuTensor(new Float64Array(0), [2, 3, 0, 4], true);
    const k = gpuTensor(randArray([2, 6], 31), [2, 6], true);
    const y = channelAffine(x, k);
    expect(y.shape).toEqual([2, 3, 0, 4]);
    backward(y, { grad: gpuTensor(new Float64Array(0), [2, 3, 0, 4]) });
    expect(Array.from(await k.grad!.data())).toEqual(new Array(12).fill(0));
    for (const t of [x, k]) t.grad?.dispose();
    for (const t of [x, k, y]) t.dispose();
  });

  it('errors name the argument and the shapes', () => {
    const x = tensor(new Float32Array(2 * 3 * 4), [2, 3, 2, 2]);
    expect(() => channelAffine(x, tensor(new Float32Array(6), [2, 3]))).toThrow(
      /channelAffine: scale-and-shift k has shape \[2, 3\], expected \[2, 6\] \(N and 2·C of input \[2, 3, 2, 2\]\)/,
    );
    expect(() => channelAffine(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(4), [2, 2]))).toThrow(/channelAffine: input must be \[N, C, H, W\] \(rank 4\)/);
    expect(() => channelAffine(x, tensor(new Int32Array(12), [2, 6], 'i32'))).toThrow(/channelAffine/);
  });
});
