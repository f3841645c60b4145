/** float64 reference of the GDFN core (gatedDepthwiseGelu). */
import { gelu as gelu64 } from './special.js';

export type Shape4 = [number, number, number, number];

/** float64 reference: depthwise 3×3 (padding 1) over 2h channels, then GELU(y₁) ⊙ y₂. */
export function refGdfn(x: Float64Array, w: Float64Array, shape: Shape4): Float64Array {
  const [B, C2, H, W] = shape;
  const h = C2 / 2;
  const y = new Float64Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C2; c++) {
      const plane = (b * C2 + c) * H * W;
      for (let oy = 0; oy < H; oy++) {
        for (let ox = 0; ox < W; ox++) {
          let s = 0;
          for (let ky = 0; ky < 3; ky++) {
            const iy = oy + ky - 1;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < 3; kx++) {
              const ix = ox + kx - 1;
              if (ix < 0 || ix >= W) continue;
              s += w[c * 9 + ky * 3 + kx] * x[plane + iy * W + ix];
            }
          }
          y[plane + oy * W + ox] = s;
        }
      }
    }
  }
  const out = new Float64Array(B * h * H * W);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < h; c++) {
      for (let i = 0; i < H * W; i++) {
        const y1 = y[(b * C2 + c) * H * W + i];
        const y2 = y[(b * C2 + c + h) * H * W + i];
        out[(b * h + c) * H * W + i] = gelu64(y1) * y2;
      }
    }
  }
  return out;
}
