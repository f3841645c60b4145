import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/ref.js';
import { tensor, add, mul, sum, exp, backward, tidy, argmax } from '../src/node.js';

describe('smoke', () => {
  beforeAll(gpu);
  it('adds, reduces and differentiates', async () => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    a.requiresGrad = true;
    const b = tensor([10, 20], [2]);
    const y = tidy(() => sum(mul(exp(a), b)));
    expect(await y.item()).toBeCloseTo(Math.exp(1) * 10 + Math.exp(2) * 20 + Math.exp(3) * 10 + Math.exp(4) * 20, 2);
    backward(y);
    expectClose(await a.grad!.data(), [Math.exp(1) * 10, Math.exp(2) * 20, Math.exp(3) * 10, Math.exp(4) * 20], 1e-6);
    const c = add(a, b);
    expect(Array.from(await c.data())).toEqual([11, 22, 13, 24]);
    expect(Array.from(await argmax(tensor([1, 5, 2, 9, 0, 3], [2, 3]), 1).data())).toEqual([1, 0]);
  });
});
