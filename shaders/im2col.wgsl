// The layout kernels of a convolution run as a matrix product (src/kernels/conv-gemm.ts), NCHW,
// groups = 1, weight [O, C, KH, KW] viewed as [O, K] with K = C·KH·KW, k = (c·KH + ky)·KW + kx.
// A chunk of nc images [n0, n0 + nc) is one product; its columns are q = (n − n0)·P + p over the
// output pixels p = oy·OW + ox (P = OH·OW), so images share every tile of the product.
//
// `im2col`, `im2col4`  col [K, Q] (Q = nc·P): col[k][q] = x[n, c, oy·SH − PT + ky·DH,
//                      ox·SW − PL + kx·DW], 0 in the padding. im2col4 writes four columns per
//                      thread as a vec4 (Q % 4 == 0).
// `col2im`, `col2im4`  dx [nc, C, H, W] at element dx_base, from dcol [K, Q]: the sum over the
//                      taps that reach (iy, ix), which are those with iy + PT − ky·DH ≥ 0 and a
//                      multiple of SH below OH·SH (columns alike). No atomics: each thread owns
//                      its pixels. col2im4 takes four pixels of a row per thread (W % 4 == 0).
// `swap`, `swap4`      out[j][i][s] = in[i][j][s] (+ bias[i]) for in [A, B, S] read from in_base
//                      and out [B, A, S] written from out_base: the product's [O, nc·P] into
//                      NCHW (with the bias), dy's chunk into [O, nc·P], the weight into [K, O]
//                      (S = 1). swap4 moves vec4s along s (S % 4 == 0).
// On CPU drivers every buffer access is a per-invocation loop whatever its address, so the
// vec4 forms cost a quarter of the accesses; and lavapipe's SIMD has no integer divide, so the
// index arithmetic divides through f32 reciprocals (`quot`, FDIV: every index < 2^24) and the
// strides are overrides (constant divisors).
override SH: u32 = 1u;
override SW: u32 = 1u;

struct Params {
  c: u32, h: u32, w: u32,        // input channels and size
  oh: u32, ow: u32,              // output size (P = oh·ow)
  kh: u32, kw: u32,              // kernel rows and columns
  dh: u32, dw: u32,              // dilation
  pt: i32, pl: i32,              // top and left padding
  nc: u32,                       // images in the chunk
  n0: u32,                       // first image of the chunk (im2col reads x from it)
  dx_base: u32,                  // col2im: first element of the chunk's dx
  // swap
  a: u32, b: u32, s: u32,
  in_base: u32, out_base: u32,
  has_bias: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> col: array<f32>;
@group(0) @binding(2) var<storage, read_write> col4: array<vec4f>;
@group(0) @binding(3) var<storage, read> dcol: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(6) var<storage, read> src: array<f32>;
@group(0) @binding(7) var<storage, read> src4: array<vec4f>;
@group(0) @binding(8) var<storage, read> bias: array<f32>;
@group(0) @binding(9) var<storage, read_write> dst: array<f32>;
@group(0) @binding(10) var<storage, read_write> dst4: array<vec4f>;
@group(0) @binding(11) var<uniform> u: Params;

// #include "nd_index.wgsl"

// ⌊a / s⌋ for a run-time s.
fn div(a: u32, s: u32) -> u32 {
  return quot(a, s, 1.0 / f32(s));
}

// Coordinates (i0, i1, i2) of flat index i in a row-major [·, d1, d2].
fn split3(i: u32, d1: u32, d2: u32) -> vec3u {
  let r = div(i, d2);
  let i0 = div(r, d1);
  return vec3u(i0, r - i0 * d1, i - r * d2);
}

// ---------------------------------------------------------------- im2col

// A column's output pixel, walked in order: image n (absolute), row oy, column ox.
struct Pixel {
  n: u32,
  oy: u32,
  ox: u32,
}

fn pixelOf(q: u32) -> Pixel {
  let c = split3(q, u.oh, u.ow);
  return Pixel(u.n0 + c.x, c.y, c.z);
}

fn nextPixel(px: Pixel) -> Pixel {
  var r = px;
  r.ox += 1u;
  if (r.ox == u.ow) {
    r.ox = 0u;
    r.oy += 1u;
    if (r.oy == u.oh) {
      r.oy = 0u;
      r.n += 1u;
    }
  }
  return r;
}

// Tap (c, ky, kx) of row k of col.
fn tapOf(k: u32) -> vec3u {
  return split3(k, u.kh, u.kw);
}

// x at tap t = (c, ky, kx) of pixel px, 0 in the padding.
fn sample(t: vec3u, px: Pixel) -> f32 {
  let iy = i32(px.oy * SH + t.y * u.dh) - u.pt;
  let ix = i32(px.ox * SW + t.z * u.dw) - u.pl;
  let inside = iy >= 0 && iy < i32(u.h) && ix >= 0 && ix < i32(u.w);
  let at = ((px.n * u.c + t.x) * u.h + u32(clamp(iy, 0, i32(u.h) - 1))) * u.w + u32(clamp(ix, 0, i32(u.w) - 1));
  return select(0.0, x[at], inside);
}

@compute @workgroup_size(256)
fn im2col(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  let Q = u.nc * u.oh * u.ow;
  if (i >= u.c * u.kh * u.kw * Q) { return; }
  let k = div(i, Q);
  col[i] = sample(tapOf(k), pixelOf(i - k * Q));
}

@compute @workgroup_size(256)
fn im2col4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  let Q4 = u.nc * u.oh * u.ow / 4u;
  if (i >= u.c * u.kh * u.kw * Q4) { return; }
  let k = div(i, Q4);
  let t = tapOf(k);
  var px = pixelOf((i - k * Q4) * 4u);
  var v: vec4f;
  for (var e = 0u; e < 4u; e++) {
    v[e] = sample(t, px);
    px = nextPixel(px);
  }
  col4[i] = v;
}

// ---------------------------------------------------------------- col2im

// Σ over the taps reaching input pixel (n, c, iy, ix) of dcol (n relative to the chunk).
fn gather(n: u32, c: u32, iy: u32, ix: u32) -> f32 {
  let P = u.oh * u.ow;
  let Q = u.nc * P;
  var acc = 0.0;
  for (var ky = 0u; ky < u.kh; ky++) {
    let ty = i32(iy) + u.pt - i32(ky * u.dh);
    if (ty < 0 || u32(ty) % SH != 0u || u32(ty) / SH >= u.oh) { continue; }
    let rowQ = n * P + (u32(ty) / SH) * u.ow;
    let rowK = (c * u.kh + ky) * u.kw;
    for (var kx = 0u; kx < u.kw; kx++) {
      let tx = i32(ix) + u.pl - i32(kx * u.dw);
      if (tx < 0 || u32(tx) % SW != 0u || u32(tx) / SW >= u.ow) { continue; }
      acc += dcol[(rowK + kx) * Q + rowQ + u32(tx) / SW];
    }
  }
  return acc;
}

@compute @workgroup_size(256)
fn col2im(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= u.nc * u.c * u.h * u.w) { return; }
  // (plane, iy, ix), plane = n·C + c
  let p = split3(i, u.h, u.w);
  let n = div(p.x, u.c);
  dx[u.dx_base + i] = gather(n, p.x - n * u.c, p.y, p.z);
}

@compute @workgroup_size(256)
fn col2im4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  let W4 = u.w / 4u;
  if (i >= u.nc * u.c * u.h * W4) { return; }
  let p = split3(i, u.h, W4);
  let n = div(p.x, u.c);
  let c = p.x - n * u.c;
  let iy = p.y;
  let ix = p.z * 4u;
  dx4[u.dx_base / 4u + i] = vec4f(gather(n, c, iy, ix), gather(n, c, iy, ix + 1u), gather(n, c, iy, ix + 2u), gather(n, c, iy, ix + 3u));
}

// ---------------------------------------------------------------- swap

fn biasOf(i: u32) -> f32 {
  if (u.has_bias == 0u) { return 0.0; }
  return bias[i];
}

@compute @workgroup_size(256)
fn swap(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = index(wid, nwg, lid);
  if (t >= u.a * u.b * u.s) { return; }
  // t walks out in order: (j, i, s)
  let c = split3(t, u.a, u.s);
  dst[u.out_base + t] = src[u.in_base + (c.y * u.b + c.x) * u.s + c.z] + biasOf(c.y);
}

@compute @workgroup_size(256)
fn swap4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = index(wid, nwg, lid);
  let S4 = u.s / 4u;
  if (t >= u.a * u.b * S4) { return; }
  let c = split3(t, u.a, S4);
  dst4[u.out_base / 4u + t] = src4[u.in_base / 4u + (c.y * u.b + c.x) * S4 + c.z] + vec4f(biasOf(c.y));
}
