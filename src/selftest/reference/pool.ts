/** float64 references of average pooling and adaptive average pooling. */

export type Shape4 = [number, number, number, number];

export function two(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

/** Float64 average pooling, count_include_pad = True: the window sum over the zero-padded input / kh·kw. */
export function avgPoolRef(
  x: Float64Array,
  [n, c, h, w]: Shape4,
  kernel: number | [number, number],
  stride?: number | [number, number],
  padding: number | [number, number] = 0,
): { y: Float64Array; shape: Shape4 } {
  const [kh, kw] = two(kernel);
  const [sh, sw] = stride === undefined ? [kh, kw] : two(stride);
  const [ph, pw] = two(padding);
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const y = new Float64Array(n * c * oh * ow);
  for (let pl = 0; pl < n * c; pl++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        let s = 0;
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * sh - ph + ky;
            const ix = ox * sw - pw + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) s += x[(pl * h + iy) * w + ix];
          }
        y[(pl * oh + oy) * ow + ox] = s / (kh * kw);
      }
  return { y, shape: [n, c, oh, ow] };
}

/** Float64 adaptive average pooling with PyTorch's bins [⌊i·in/out⌋, ⌈(i+1)·in/out⌉). */
export function adaptiveRef(x: Float64Array, [n, c, h, w]: Shape4, out: number | [number, number]): { y: Float64Array; shape: Shape4 } {
  const [oh, ow] = two(out);
  const y = new Float64Array(n * c * oh * ow);
  for (let pl = 0; pl < n * c; pl++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const y0 = Math.floor((i * h) / oh);
        const y1 = Math.ceil(((i + 1) * h) / oh);
        const x0 = Math.floor((j * w) / ow);
        const x1 = Math.ceil(((j + 1) * w) / ow);
        let s = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) s += x[(pl * h + iy) * w + ix];
        y[(pl * oh + i) * ow + j] = s / ((y1 - y0) * (x1 - x0));
      }
  return { y, shape: [n, c, oh, ow] };
}
