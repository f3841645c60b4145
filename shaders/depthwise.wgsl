// Depthwise 2-D convolution (groups = C, O = M·C: channel multiplier M), NCHW, weight [O, 1, KH, KW].
// Kernel size, stride and dilation are pipeline constants, so every loop over taps unrolls and
// each invocation works from registers (on CPU drivers a buffer load costs a dozen instructions
// per invocation; arithmetic is SIMD).
//
// `forward`          one invocation: a PY×PX tile of one output channel. The input rows and
//                    columns the tile needs are loaded once into a register window, then
//                    KH·KW·PY·PX multiply-adds run from it. Group g = oc / OG reads input channels
//                    g·CG … g·CG + CG − 1 (depthwise: CG = 1, OG = M). With CG = M, OG = 1, the
//                    180°-rotated weight and the gradient as input, it computes dx (see conv.ts).
// `forward_strips`   3×3, stride 1, padding 1, one input channel per group (cg = 1): one
//                    invocation slides a 3-row window down a strip of four output columns of one
//                    output channel over a chunk of rows, every value in vectors (rows3x3.wgsl):
//                    `forward` keeps its window and tile in private arrays, which the compiler
//                    indexes a lane at a time where it does not unroll the loops. With QUADS
//                    (W % 4 == 0) rows are read and written a quad at a time (x4, y4: the same
//                    buffers as x, y; the host binds a spare 16-byte buffer to the output form not written).
// `backward_weight_strips`  the weight gradient on the same strips: one invocation sums
//                    dy ⊗ x for the 9 taps of one output channel over a slice of (image, row
//                    chunk, strip) units, into dwp[split] (summed afterwards in a fixed order).
// `backward_weight`  dw partials: one invocation accumulates a block of up to 3×4 taps of one
//                    output channel over a slice of the (n, oy) rows, two output rows × four columns
//                    at a time; slices are summed afterwards in a fixed order (no atomics).
override KH: u32 = 3u;
override KW: u32 = 3u;
override SH: u32 = 1u;
override SW: u32 = 1u;
override DH: u32 = 1u;
override DW: u32 = 1u;
override PY: u32 = 4u;           // forward: output rows per invocation, ≤ 8
override PX: u32 = 4u;           // forward: output columns per invocation, ≤ 8
override WINDOW: bool = true;    // forward: the tile's input window fits MAXWIN values
override KYT: u32 = 3u;          // backward_weight: tap rows per invocation, ≤ 3

const MAXWIN: u32 = 144u;
const MAXWX: u32 = 64u;
const WG: u32 = 64u;

struct Params {
  n: u32, c: u32, h: u32, w: u32,
  o: u32, oh: u32, ow: u32,
  cg: u32, og: u32,                 // input and output channels per group
  pt: i32, pl: i32,                 // top/left padding (negative: crop)
  rows: u32, cols: u32,             // forward: tile rows and columns per output plane (forward_strips: row chunks, strips)
  total: u32,                       // invocations with work
  rows_per_split: u32,              // backward_weight: pairs of output rows per slice (forward_strips: rows per chunk)
  has_bias: u32,                    // forward: add bias[oc] (a runtime flag: one pipeline fewer)
  units_per_split: u32,             // backward_weight_strips: (image, row chunk, strip) units per invocation
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dwp: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<storage, read> x4: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(9) var<storage, read> dy4: array<vec4f>;
override QUADS: bool = false;     // forward_strips: W % 4 == 0

fn invocation(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// x[plane + iy·W + ix], or 0 outside the image.
fn xAt(plane: u32, iy: i32, ix: i32) -> f32 {
  let inside = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
  let i = plane + u32(clamp(iy, 0, i32(p.h) - 1)) * p.w + u32(clamp(ix, 0, i32(p.w) - 1));
  return select(0.0, x[i], inside);
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  // id = ((n · O + oc) · rows + tr) · cols + tc
  let tc = id % p.cols;
  var rest = id / p.cols;
  let tr = rest % p.rows;
  rest = rest / p.rows;
  let oc = rest % p.o;
  let n = rest / p.o;
  let g = oc / p.og;
  let oy0 = tr * PY;
  let ox0 = tc * PX;
  let iy0 = i32(oy0 * SH) - p.pt;
  let ix0 = i32(ox0 * SW) - p.pl;
  let wr = (PX - 1u) * SW + (KW - 1u) * DW + 1u;   // window columns
  let hr = (PY - 1u) * SH + (KH - 1u) * DH + 1u;   // window rows

  var acc: array<array<f32, 8>, 8>;
  for (var ci = 0u; ci < p.cg; ci++) {
    let plane = (n * p.c + g * p.cg + ci) * p.h * p.w;
    let wBase = (oc * p.cg + ci) * KH * KW;
    var xs: array<f32, MAXWIN>;
    if (WINDOW) {
      for (var r = 0u; r < hr; r++) {
        for (var q = 0u; q < wr; q++) { xs[r * wr + q] = xAt(plane, iy0 + i32(r), ix0 + i32(q)); }
      }
    }
    for (var ky = 0u; ky < KH; ky++) {
      for (var kx = 0u; kx < KW; kx++) {
        let wv = wt[wBase + ky * KW + kx];
        for (var a = 0u; a < PY; a++) {
          for (var b = 0u; b < PX; b++) {
            let r = a * SH + ky * DH;
            let q = b * SW + kx * DW;
            var xv: f32;
            if (WINDOW) { xv = xs[r * wr + q]; } else { xv = xAt(plane, iy0 + i32(r), ix0 + i32(q)); }
            acc[a][b] = fma(wv, xv, acc[a][b]);
          }
        }
      }
    }
  }
  var bv = 0.0;
  if (p.has_bias != 0u) { bv = bias[oc]; }
  // one store in a runtime loop: CPU drivers expand every buffer access per invocation, so
  // unrolled stores would multiply the code to compile
  var vals = acc;
  for (var k = 0u; k < PY * PX; k++) {
    let a = k / PX;
    let b = k % PX;
    if (oy0 + a >= p.oh || ox0 + b >= p.ow) { continue; }
    y[((n * p.o + oc) * p.oh + oy0 + a) * p.ow + ox0 + b] = vals[a][b] + bv;
  }
}

// dwp[split, oc, ky, kx] = Σ over the split's pairs of (n, oy) rows of dy[n, oc, oy, ox] · x[n, oc / OG, iy, ix].
// id = ((split · O + oc) · kyBlocks + kyb) · kxBlocks + kxb.
@compute @workgroup_size(64)
fn backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  let kxBlocks = (KW + 3u) / 4u;
  let kyBlocks = (KH + KYT - 1u) / KYT;
  let kxb = id % kxBlocks;
  var rest = id / kxBlocks;
  let kyb = rest % kyBlocks;
  rest = rest / kyBlocks;
  let oc = rest % p.o;
  let split = rest / p.o;
  let kx0 = kxb * 4u;
  let ky0 = kyb * KYT;
  let c = oc / p.og;
  // window: 2 output rows and 4 columns against KYT × 4 taps
  let hr = SH + (KYT - 1u) * DH + 1u;
  let wr = 3u * SW + 3u * DW + 1u;
  let useWindow = hr * wr <= MAXWX;

  // acc[r][t]: tap (ky0 + r, kx0 + t)
  var acc: array<vec4f, 3>;
  // work in pairs of output rows of one image: pair k of image n is rows 2k, 2k + 1
  let pairsPerImage = (p.oh + 1u) / 2u;
  let r0 = split * p.rows_per_split;
  let r1 = min(r0 + p.rows_per_split, p.n * pairsPerImage);
  for (var pr = r0; pr < r1; pr++) {
    let n = pr / pairsPerImage;
    let oy = (pr % pairsPerImage) * 2u;
    let second = oy + 1u < p.oh;
    let plane = (n * p.c + c) * p.h * p.w;
    let dyRow = ((n * p.o + oc) * p.oh + oy) * p.ow;
    let iy0 = i32(oy * SH + ky0 * DH) - p.pt;
    for (var ox0 = 0u; ox0 < p.ow; ox0 += 4u) {
      let inRow = vec4<bool>(true, ox0 + 1u < p.ow, ox0 + 2u < p.ow, ox0 + 3u < p.ow);
      let cols = min(vec4u(ox0, ox0 + 1u, ox0 + 2u, ox0 + 3u), vec4u(p.ow - 1u));
      let d0 = select(vec4f(0.0), vec4f(dy[dyRow + cols.x], dy[dyRow + cols.y], dy[dyRow + cols.z], dy[dyRow + cols.w]), inRow);
      let r2 = dyRow + select(0u, p.ow, second);
      let d1 = select(vec4f(0.0), vec4f(dy[r2 + cols.x], dy[r2 + cols.y], dy[r2 + cols.z], dy[r2 + cols.w]), inRow & vec4<bool>(second));
      let ix0 = i32(ox0 * SW + kx0 * DW) - p.pl;
      var xs: array<f32, MAXWX>;
      if (useWindow) {
        for (var r = 0u; r < hr; r++) {
          for (var q = 0u; q < wr; q++) { xs[r * wr + q] = xAt(plane, iy0 + i32(r), ix0 + i32(q)); }
        }
      }
      for (var r = 0u; r < KYT; r++) {
        for (var t = 0u; t < 4u; t++) {
          var xa: vec4f;
          var xb: vec4f;
          for (var q = 0u; q < 4u; q++) {
            let ra = r * DH;
            let rb = SH + r * DH;
            let cq = q * SW + t * DW;
            if (useWindow) {
              xa[q] = xs[ra * wr + cq];
              xb[q] = xs[rb * wr + cq];
            } else {
              xa[q] = xAt(plane, iy0 + i32(ra), ix0 + i32(cq));
              xb[q] = xAt(plane, iy0 + i32(rb), ix0 + i32(cq));
            }
          }
          acc[r][t] += dot(d0, xa) + dot(d1, xb);
        }
      }
    }
  }
  // one store in a runtime loop (see forward)
  var vals = acc;
  for (var k = 0u; k < KYT * 4u; k++) {
    let r = k / 4u;
    let t = k % 4u;
    if (ky0 + r >= KH || kx0 + t >= KW) { continue; }
    dwp[(split * p.o + oc) * KH * KW + (ky0 + r) * KW + kx0 + t] = vals[r][t];
  }
}

// #include "rows3x3.wgsl"

// Row iy of a plane around the strip at ox0 (a multiple of 4): columns ox0 − 1 … ox0 + 4 (the
// quads hold ox0 − 4 … ox0 + 7), zero outside the image.
fn stripRow(plane: u32, iy: i32, ox0: u32) -> Row3 {
  var r: Row3;
  if (iy < 0 || iy >= i32(p.h)) { return r; }
  let base = plane + u32(iy) * p.w;
  if (QUADS) {
    let q = (base + ox0) / 4u;
    let left = ox0 > 0u;
    let right = ox0 + 4u < p.w;
    r.a = select(vec4f(0.0), x4[select(q, q - 1u, left)], left);
    r.b = x4[q];
    r.c = select(vec4f(0.0), x4[select(q, q + 1u, right)], right);
    return r;
  }
  var v: array<f32, 12>;
  for (var j = 3u; j < 9u; j++) { v[j] = xAt(plane, iy, i32(ox0 + j) - 4); }
  r.a = vec4f(0.0, 0.0, 0.0, v[3]);
  r.b = vec4f(v[4], v[5], v[6], v[7]);
  r.c = vec4f(v[8], 0.0, 0.0, 0.0);
  return r;
}

@compute @workgroup_size(64)
fn forward_strips(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  // id = ((n · O + oc) · chunks + k) · strips + s
  let su = stripUnit(id, p.cols, p.rows);
  let s = su.x;
  let k = su.y;
  let oc = su.z % p.o;
  let n = su.z / p.o;
  let plane = (n * p.c + oc / p.og) * p.h * p.w;
  let outPlane = (n * p.o + oc) * p.h * p.w;
  let ox0 = s * 4u;
  let r0 = i32(k * p.rows_per_split);
  let r1 = i32(min(k * p.rows_per_split + p.rows_per_split, p.h));
  var kw: array<f32, 9>;
  for (var i = 0u; i < 9u; i++) { kw[i] = wt[oc * 9u + i]; }
  var bv = 0.0;
  if (p.has_bias != 0u) { bv = bias[oc]; }
  var a = stripRow(plane, r0 - 1, ox0);
  var b = stripRow(plane, r0, ox0);
  for (var r = r0; r < r1; r++) {
    let c = stripRow(plane, r + 1, ox0);
    let o = conv4(kw, a, b, c) + bv;
    let at = outPlane + u32(r) * p.w + ox0;
    if (QUADS) {
      y4[at / 4u] = o;
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (ox0 + j < p.w) { y[at + j] = o[j]; }
      }
    }
    a = b;
    b = c;
  }
}

// dy at the strip's four columns of row oy (zero past the row's end).
fn stripDy(plane: u32, oy: u32, ox0: u32) -> vec4f {
  let at = plane + oy * p.w + ox0;
  if (QUADS) { return dy4[at / 4u]; }
  var d: vec4f;
  for (var j = 0u; j < 4u; j++) {
    let ok = ox0 + j < p.w;
    d[j] = select(0.0, dy[select(plane, at + j, ok)], ok);
  }
  return d;
}

// Σ over the strip's columns of d · x shifted by kx − 1, for the three taps of one kernel row.
fn tapRow(d: vec4f, r: Row3) -> vec3f {
  return vec3f(dot(d, left1(r)), dot(d, r.b), dot(d, right1(r)));
}

@compute @workgroup_size(64)
fn backward_weight_strips(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  // id = split · O + oc; unit u = (n · chunks + k) · strips + s
  let oc = id % p.o;
  let split = id / p.o;
  let units = p.n * p.rows * p.cols;
  let u0 = split * p.units_per_split;
  let u1 = min(u0 + p.units_per_split, units);
  var acc: array<vec3f, 3>;
  for (var u = u0; u < u1; u++) {
    let su = stripUnit(u, p.cols, p.rows);
    let s = su.x;
    let k = su.y;
    let n = su.z;
    let plane = (n * p.c + oc / p.og) * p.h * p.w;
    let dyPlane = (n * p.o + oc) * p.h * p.w;
    let ox0 = s * 4u;
    let r0 = i32(k * p.rows_per_split);
    let r1 = i32(min(k * p.rows_per_split + p.rows_per_split, p.h));
    var a = stripRow(plane, r0 - 1, ox0);
    var b = stripRow(plane, r0, ox0);
    for (var r = r0; r < r1; r++) {
      let c = stripRow(plane, r + 1, ox0);
      let d = stripDy(dyPlane, u32(r), ox0);
      acc[0] += tapRow(d, a);
      acc[1] += tapRow(d, b);
      acc[2] += tapRow(d, c);
      a = b;
      b = c;
    }
  }
  let base = (split * p.o + oc) * 9u;
  for (var i = 0u; i < 9u; i++) { dwp[base + i] = acc[i / 3u][i % 3u]; }
}
