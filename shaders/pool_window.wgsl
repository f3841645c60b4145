// What average pooling (pool.wgsl) and max pooling (maxpool.wgsl) share, over the last two axes
// of x viewed as [planes, H, W]: the uniforms (the includer binds `var<uniform> p: Params`), the
// flat invocation index, an output's window clipped to the image, and the outputs whose windows
// cover an input position (for the gather backward passes). Included with
// `// #include "pool_window.wgsl"`.
struct Params {
  planes: u32, c: u32, h: u32, w: u32, oh: u32, ow: u32,
  kh: u32, kw: u32, sh: u32, sw: u32,
  pt: i32, pl: i32,          // padding before (top, left)
  total: u32,                // invocations with work
  scale: f32,                // average pooling: 1 / (KH·KW)
  slope: f32,                // max pooling's epilogue: the leaky slope
}

const WG: u32 = 256u;

fn invocation(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// The window of output (oy, ox) clipped to the image: rows [r.x, r.y), columns [r.z, r.w).
fn window(oy: u32, ox: u32) -> vec4u {
  let y0 = i32(oy * p.sh) - p.pt;
  let x0 = i32(ox * p.sw) - p.pl;
  return vec4u(u32(max(y0, 0)), u32(clamp(y0 + i32(p.kh), 0, i32(p.h))), u32(max(x0, 0)), u32(clamp(x0 + i32(p.kw), 0, i32(p.w))));
}

// First output index whose window [o·S − P, o·S − P + K) reaches position v, and one past the last.
fn coveringOutputs(v: u32, k: u32, s: u32, pad: i32, outSize: u32) -> vec2u {
  let t = i32(v) + pad;                       // o·S ≤ t and o·S > t − K
  let lo = select(0, (t - i32(k)) / i32(s) + 1, t - i32(k) >= 0);
  let hi = min(t / i32(s) + 1, i32(outSize));
  return vec2u(u32(lo), u32(max(hi, lo)));
}
