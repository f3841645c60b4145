/** float64 reference of max pooling (TF's SAME and VALID, PyTorch's symmetric padding). */
import type { MaxPoolPadding } from '../../kernels/maxpool.js';

export type Shape4 = [number, number, number, number];

export function two(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

/**
 * Float64 max pooling written from the definitions: TF's SAME (out = ⌈in/s⌉, total padding
 * max((out−1)·s + k − in, 0), ⌊total/2⌋ before), VALID, or PyTorch's symmetric −∞ padding.
 */
export function maxPoolRef(x: Float64Array, [n, c, h, w]: Shape4, kernel: number | [number, number], stride: number | [number, number] | undefined, padding: MaxPoolPadding) {
  const [kh, kw] = two(kernel);
  const [sh, sw] = stride === undefined ? [kh, kw] : two(stride);
  const ax = (size: number, k: number, s: number, p: 'valid' | 'same' | number) => {
    if (p === 'same') {
      const out = Math.ceil(size / s);
      return { out, before: Math.floor(Math.max((out - 1) * s + k - size, 0) / 2) };
    }
    const pp = p === 'valid' ? 0 : p;
    return { out: Math.floor((size + 2 * pp - k) / s) + 1, before: pp };
  };
  const [ph, pw] = padding === 'valid' || padding === 'same' ? [padding, padding] : two(padding);
  const ay = ax(h, kh, sh, ph);
  const axx = ax(w, kw, sw, pw);
  const [oh, ow] = [ay.out, axx.out];
  const y = new Float64Array(n * c * oh * ow);
  for (let pl = 0; pl < n * c; pl++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        let m = -Infinity;
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * sh - ay.before + ky;
            const ix = ox * sw - axx.before + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const v = x[(pl * h + iy) * w + ix];
            if (v > m) m = v;
          }
        y[(pl * oh + oy) * ow + ox] = m;
      }
  return { y, shape: [n, c, oh, ow] as Shape4 };
}
