/** float64 references of the layout ops: permute, slice, concat, pad. */
import { sizeOf } from './random.js';

export function stridesOf(shape: readonly number[]): number[] {
  const st: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

/** Calls fn(coords, flatIndex) for every element of `shape` in row-major order. */
export function forEachIndex(shape: readonly number[], fn: (c: number[], i: number) => void): void {
  const n = sizeOf(shape);
  const c = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(c, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++c[d] < shape[d]) break;
      c[d] = 0;
    }
  }
}

export function at(shape: readonly number[], c: readonly number[]): number {
  const st = stridesOf(shape);
  return c.reduce((s, v, d) => s + v * st[d], 0);
}

export function refPermute(x: ArrayLike<number>, shape: number[], perm: number[]): Float64Array {
  const outShape = perm.map((p) => shape[p]);
  const y = new Float64Array(sizeOf(outShape));
  forEachIndex(outShape, (c, i) => {
    const src = new Array<number>(shape.length);
    perm.forEach((p, d) => (src[p] = c[d]));
    y[i] = x[at(shape, src)];
  });
  return y;
}

export function refSlice(x: ArrayLike<number>, shape: number[], begin: number[], size: number[]): Float64Array {
  const y = new Float64Array(sizeOf(size));
  forEachIndex(
    size,
    (c, i) =>
      (y[i] =
        x[
          at(
            shape,
            c.map((v, d) => v + begin[d]),
          )
        ]),
  );
  return y;
}

export function refConcat(parts: Array<{ data: ArrayLike<number>; shape: number[] }>, axis: number): Float64Array {
  const outShape = [...parts[0].shape];
  outShape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
  const y = new Float64Array(sizeOf(outShape));
  forEachIndex(outShape, (c, i) => {
    let k = c[axis];
    for (const p of parts) {
      if (k < p.shape[axis]) {
        const cc = [...c];
        cc[axis] = k;
        y[i] = p.data[at(p.shape, cc)];
        return;
      }
      k -= p.shape[axis];
    }
  });
  return y;
}

/** Reflection by repeated bouncing off the edges (independent of the kernel's modular form). */
export function bounce(t: number, n: number): number {
  while (t < 0 || t >= n) {
    if (t < 0) t = -t;
    if (t >= n) t = 2 * (n - 1) - t;
  }
  return t;
}

export function refPad(x: ArrayLike<number>, shape: number[], pads: Array<[number, number]>, mode: string, value = 0): Float64Array {
  const lead = shape.length - pads.length;
  const before = shape.map((_, i) => (i >= lead ? pads[i - lead][0] : 0));
  const after = shape.map((_, i) => (i >= lead ? pads[i - lead][1] : 0));
  const outShape = shape.map((d, i) => d + before[i] + after[i]);
  const y = new Float64Array(sizeOf(outShape));
  forEachIndex(outShape, (c, i) => {
    const src: number[] = [];
    for (let d = 0; d < shape.length; d++) {
      let t = c[d] - before[d];
      if (t < 0 || t >= shape[d]) {
        if (mode === 'constant') {
          y[i] = value;
          return;
        }
        t = mode === 'replicate' ? Math.min(Math.max(t, 0), shape[d] - 1) : bounce(t, shape[d]);
      }
      src.push(t);
    }
    y[i] = x[at(shape, src)];
  });
  return y;
}
