/** float64 references of pixel shuffle and unshuffle. */

export type Shape4 = [number, number, number, number];

/** out[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w], written as loops over the output. */
export function shuffleRef(x: Float64Array, [n, cr, h, w]: Shape4, r: number): Float64Array {
  const c = cr / (r * r);
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let oy = 0; oy < h * r; oy++)
        for (let ox = 0; ox < w * r; ox++) {
          const src = ch * r * r + (oy % r) * r + (ox % r);
          out[((b * c + ch) * h * r + oy) * w * r + ox] = x[((b * cr + src) * h + Math.floor(oy / r)) * w + Math.floor(ox / r)];
        }
  return out;
}

/** The inverse, written as loops over its own output. */
export function unshuffleRef(x: Float64Array, [n, c, hr, wr]: Shape4, r: number): Float64Array {
  const h = hr / r;
  const w = wr / r;
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < c * r * r; oc++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          const ch = Math.floor(oc / (r * r));
          const i = Math.floor(oc / r) % r;
          const j = oc % r;
          out[((b * c * r * r + oc) * h + y) * w + xx] = x[((b * c + ch) * hr + y * r + i) * wr + xx * r + j];
        }
  return out;
}
