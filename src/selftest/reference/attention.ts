/**
 * float64 references of the fused attentions: Restormer's channel attention (MDTA) and Swin's
 * window attention with its relative position bias.
 */

/** F.normalize's epsilon (the channel attention normalises q and k rows). */
export const CHANNEL_ATTENTION_EPS = 1e-12;

export type Shape4 = [number, number, number, number];
/** [B, heads, nWin, M, d] */
export type Shape5 = [number, number, number, number, number];

/** The same on q, k and v packed as [B, 3, heads, c, N] (shape: [B, heads, c, N]): each image's q, k and v cut out, then attended. */
export function refChannelAttentionPacked(qkv: ArrayLike<number>, t: Float64Array, shape: Shape4): Float64Array {
  const [B, heads, c, n] = shape;
  const per = heads * c * n;
  const part = (i: number) => Float64Array.from({ length: B * per }, (_, e) => qkv[(Math.floor(e / per) * 3 + i) * per + (e % per)]);
  return refChannelAttention(part(0), part(1), part(2), t, shape);
}

/** float64 reference: softmax(normalize(q)·normalize(k)ᵀ·t[h])·v per (b, h). */
export function refChannelAttention(q: Float64Array, k: Float64Array, v: Float64Array, t: Float64Array, shape: Shape4): Float64Array {
  const [B, H, c, n] = shape;
  const out = new Float64Array(q.length);
  const qh = new Float64Array(c * n);
  const kh = new Float64Array(c * n);
  const s = new Float64Array(c);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = (b * H + h) * c * n;
      for (const [src, dst] of [
        [q, qh],
        [k, kh],
      ] as const) {
        for (let i = 0; i < c; i++) {
          let ss = 0;
          for (let x = 0; x < n; x++) ss += src[base + i * n + x] ** 2;
          const d = Math.max(Math.sqrt(ss), CHANNEL_ATTENTION_EPS);
          for (let x = 0; x < n; x++) dst[i * n + x] = src[base + i * n + x] / d;
        }
      }
      for (let i = 0; i < c; i++) {
        let m = -Infinity;
        for (let j = 0; j < c; j++) {
          let dot = 0;
          for (let x = 0; x < n; x++) dot += qh[i * n + x] * kh[j * n + x];
          s[j] = dot * t[h];
          m = Math.max(m, s[j]);
        }
        let z = 0;
        for (let j = 0; j < c; j++) z += s[j] = Math.exp(s[j] - m);
        for (let x = 0; x < n; x++) {
          let acc = 0;
          for (let j = 0; j < c; j++) acc += (s[j] / z) * v[base + j * n + x];
          out[base + i * n + x] = acc;
        }
      }
    }
  }
  return out;
}

/**
 * float64 reference on head-major [B, heads, nWin, M, d]: softmax(scale·q·kᵀ + b)·v per
 * (b, h, window), b[i, j] = table[rel(i, j)·heads + h] (Swin) when a table is given.
 */
export function refWindowAttention(q: Float64Array, k: Float64Array, v: Float64Array, table: Float64Array | null, shape: Shape5, w: number, scale: number): Float64Array {
  const [B, H, nW, M, d] = shape;
  const out = new Float64Array(q.length);
  const s = new Float64Array(M);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let n = 0; n < nW; n++) {
        const base = ((b * H + h) * nW + n) * M * d;
        for (let i = 0; i < M; i++) {
          let m = -Infinity;
          for (let j = 0; j < M; j++) {
            let dot = 0;
            for (let c = 0; c < d; c++) dot += q[base + i * d + c] * k[base + j * d + c];
            let bias = 0;
            if (table) {
              const rel = (Math.floor(i / w) - Math.floor(j / w) + w - 1) * (2 * w - 1) + ((i % w) - (j % w) + w - 1);
              bias = table[rel * H + h];
            }
            s[j] = dot * scale + bias;
            m = Math.max(m, s[j]);
          }
          let z = 0;
          for (let j = 0; j < M; j++) z += s[j] = Math.exp(s[j] - m);
          for (let c = 0; c < d; c++) {
            let acc = 0;
            for (let j = 0; j < M; j++) acc += (s[j] / z) * v[base + j * d + c];
            out[base + i * d + c] = acc;
          }
        }
      }
    }
  }
  return out;
}
