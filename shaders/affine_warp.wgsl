// Bilinear resampling of images: y[f, c, oy, ox] = scale · bilinear(source image s_f, channel c,
// at (sx, sy)) + bias[c], where the source sample position comes from
//
// `warp`      a 2×3 affine matrix per output item f:  sx = m0·ox + m1·oy + m2,  sy = m3·ox + m4·oy + m5
//             (pixel-index coordinates: pixel (i, j) sits at (j, i)); taps ⌊sx⌋, ⌊sx⌋ + 1 (rows alike)
//             with weight fx = sx − ⌊sx⌋.
// `resample`  separable tables per output item f: for each output column ox the two taps (i0, i1) and
//             the weight fx of i1, for each output row oy likewise (built on the host in float64;
//             this is how TF's resizeBilinear, padding and crops are expressed exactly).
//
// Taps outside the source image (or given as −1 in a table) read `fill`. The interpolation is
// TF's: top = tl + (tr − tl)·fx, bottom = bl + (br − bl)·fx, v = top + (bottom − top)·fy.
//
// Sources: SRC_BYTES = 1: packed 8-bit interleaved RGB images (HWC, four bytes per u32; value
// byte / 255, C = 3); SRC_BYTES = 0: f32 NCHW images (the u32 words bitcast). `src_items` images
// of C × H × W; item f reads image `index_f` (stored in its parameter block).
//
// Parameter blocks (`geo`, f32): warp: 8 per item [m0, m1, m2, m3, m4, m5, index, 0];
// resample: 4 + 3·(OH + OW) per item [index, 0, 0, 0, rows (i0, i1, fy)·OH, cols (i0, i1, fx)·OW].
// Indices are stored as f32 (exact below 2^24).
override SRC_BYTES: u32 = 0u;

struct Params {
  total: u32,      // outputs: items · C · OH · OW
  c: u32,
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
  src_items: u32,
  stride: u32,     // f32 values per item in `geo`
  scale: f32,
  fill: f32,
  _p0: f32,
  _p1: f32,
  bias: vec4f,     // per output channel (C ≤ 4)
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> geo: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn texel(img: u32, ch: u32, iy: i32, ix: i32) -> f32 {
  if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) { return p.fill; }
  if (SRC_BYTES == 1u) {
    let b = ((img * p.h + u32(iy)) * p.w + u32(ix)) * 3u + ch;
    return f32((src[b / 4u] >> (8u * (b % 4u))) & 0xffu) * (1.0 / 255.0);
  }
  return bitcast<f32>(src[((img * p.c + ch) * p.h + u32(iy)) * p.w + u32(ix)]);
}

fn bilinear(img: u32, ch: u32, y0: i32, y1: i32, fy: f32, x0: i32, x1: i32, fx: f32) -> f32 {
  let tl = texel(img, ch, y0, x0);
  let tr = texel(img, ch, y0, x1);
  let bl = texel(img, ch, y1, x0);
  let br = texel(img, ch, y1, x1);
  let top = tl + (tr - tl) * fx;
  let bottom = bl + (br - bl) * fx;
  return top + (bottom - top) * fy;
}

// Grid: x = output column, y = output row, z = item · C + channel (8×8 outputs per workgroup).
struct Out {
  f: u32,
  ch: u32,
  oy: u32,
  ox: u32,
  i: u32,          // flat output index
}

fn decompose(gid: vec3u) -> Out {
  let ch = gid.z % p.c;
  let f = gid.z / p.c;
  return Out(f, ch, gid.y, gid.x, (gid.z * p.oh + gid.y) * p.ow + gid.x);
}

fn finish(i: u32, ch: u32, v: f32) {
  y[i] = v * p.scale + p.bias[min(ch, 3u)];
}

@compute @workgroup_size(8, 8, 1)
fn warp(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= p.ow || gid.y >= p.oh) { return; }
  let o = decompose(gid);
  let g = o.f * p.stride;
  let fx0 = f32(o.ox);
  let fy0 = f32(o.oy);
  let sx = geo[g] * fx0 + geo[g + 1u] * fy0 + geo[g + 2u];
  let sy = geo[g + 3u] * fx0 + geo[g + 4u] * fy0 + geo[g + 5u];
  let img = u32(geo[g + 6u]);
  let bx = floor(sx);
  let by = floor(sy);
  // positions far outside the image: every tap is `fill` (and the i32 conversion stays in range)
  let x0 = i32(clamp(bx, -2.0, f32(p.w) + 1.0));
  let y0 = i32(clamp(by, -2.0, f32(p.h) + 1.0));
  finish(o.i, o.ch, bilinear(img, o.ch, y0, y0 + 1, sy - by, x0, x0 + 1, sx - bx));
}

@compute @workgroup_size(8, 8, 1)
fn resample(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= p.ow || gid.y >= p.oh) { return; }
  let o = decompose(gid);
  let g = o.f * p.stride;
  let img = u32(geo[g]);
  let r = g + 4u + 3u * o.oy;
  let c = g + 4u + 3u * p.oh + 3u * o.ox;
  let v = bilinear(img, o.ch, i32(geo[r]), i32(geo[r + 1u]), geo[r + 2u], i32(geo[c]), i32(geo[c + 1u]), geo[c + 2u]);
  finish(o.i, o.ch, v);
}
