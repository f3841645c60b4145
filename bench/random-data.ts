/** Benchmark inputs: a seeded LCG, uniform in [offset − scale/2, offset + scale/2). Any platform, no dependencies. */
export function randomData(n: number, seed: number, scale = 1, offset = 0): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * scale + offset;
  }
  return out;
}
