/** float64 reference of conv2d (groups, stride, dilation, explicit, 'same' and 'valid' padding). */
import type { Conv2dOptions } from '../../kernels/conv.js';

export type Shape4 = [number, number, number, number];

export interface RefOpts {
  stride: [number, number];
  dilation: [number, number];
  pad: [number, number, number, number]; // top, bottom, left, right
  groups: number;
}

export function two(v: number | [number, number] | undefined): [number, number] {
  if (v === undefined) return [1, 1];
  return typeof v === 'number' ? [v, v] : v;
}

/** Explicit [top, bottom, left, right] padding for the options, written independently of the library. */
export function refOpts(o: Conv2dOptions, xs: Shape4, ws: Shape4): RefOpts {
  const stride = two(o.stride);
  const dilation = two(o.dilation);
  const p = o.padding ?? 0;
  let pad: [number, number, number, number];
  if (p === 'valid') pad = [0, 0, 0, 0];
  else if (p === 'same') {
    const axis = (size: number, k: number, s: number, d: number) => {
      const out = Math.ceil(size / s);
      const total = Math.max((out - 1) * s + (k - 1) * d + 1 - size, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    };
    const [t, b] = axis(xs[2], ws[2], stride[0], dilation[0]);
    const [l, r] = axis(xs[3], ws[3], stride[1], dilation[1]);
    pad = [t, b, l, r];
  } else if (typeof p === 'number') pad = [p, p, p, p];
  else if (p.length === 2) pad = [p[0], p[0], p[1], p[1]];
  else pad = [p[0], p[1], p[2], p[3]];
  return { stride, dilation, pad, groups: o.groups ?? 1 };
}

export function outShape(xs: Shape4, ws: Shape4, r: RefOpts): Shape4 {
  const [n, , h, w] = xs;
  const [o, , kh, kw] = ws;
  const oh = Math.floor((h + r.pad[0] + r.pad[1] - (kh - 1) * r.dilation[0] - 1) / r.stride[0]) + 1;
  const ow = Math.floor((w + r.pad[2] + r.pad[3] - (kw - 1) * r.dilation[1] - 1) / r.stride[1]) + 1;
  return [n, o, oh, ow];
}

/** Float64 direct convolution, the textbook loops. */
export function convRef(x: Float64Array, xs: Shape4, wt: Float64Array, ws: Shape4, bias: Float64Array | null, r: RefOpts): Float64Array {
  const [n, c, h, w] = xs;
  const [o, cg, kh, kw] = ws;
  const [, , oh, ow] = outShape(xs, ws, r);
  const og = o / r.groups;
  const y = new Float64Array(n * o * oh * ow);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / og);
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let s = bias ? bias[oc] : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = oy * r.stride[0] - r.pad[0] + ky * r.dilation[0];
                const ix = ox * r.stride[1] - r.pad[2] + kx * r.dilation[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                s += x[((b * c + g * cg + ci) * h + iy) * w + ix] * wt[((oc * cg + ci) * kh + ky) * kw + kx];
              }
          y[((b * o + oc) * oh + oy) * ow + ox] = s;
        }
    }
  return y;
}
