// Gated depthwise-conv FFN core (Restormer's GDFN, LRDif's DGNet), fused:
//   y = DWConv3×3(x) over 2h channels (padding 1, no bias);  out = GELU_erf(y[:, :h]) ⊙ y[:, h:].
// x [N, 2h, H, W], wt [2h, 1, 3, 3], out [N, h, H, W].
//
// Both passes work on strips of four columns, every value in vectors (rows3x3.wgsl): the earlier
// form, with rows in private arrays indexed in loops the compiler did not unroll, ran 2–3× slower
// on lavapipe.
// `forward`   one invocation: channel c of one image, a strip over a chunk of rows. It slides a
//             3-row window down the strip for both halves (input channels c and c + h), so every
//             input value is loaded once per strip (plus a 1-column halo on each side) and the
//             2h-channel y never touches memory.
// `backward`  one invocation: channel c (both halves) over a slice of (image, row chunk, strip)
//             units. Per row it recomputes y at the strip's columns and its two halo columns
//             from a 3-row window of x, forms dy₁ = g ⊙ y₂ ⊙ GELU'(y₁), dy₂ = g ⊙ GELU(y₁),
//             keeps the last three dy rows, and from them writes one dx row (the depthwise
//             transpose: the kernel rotated by 180°) and adds dy ⊗ x into the 18 weight-gradient
//             sums. Each invocation writes its sums to dwp[split]; the splits are summed
//             afterwards in a fixed order (deterministic, no atomics).
// QUADS (W % 4 == 0): rows are read and written a quad at a time through x4, g4, out4 and dx4,
// the same buffers (CPU drivers expand every buffer access per invocation). Both forms are
// declared; the host binds an input to both and a spare 16-byte buffer to the output form not written.
override QUADS: bool = false;

const WG: u32 = 64u;
const INV_SQRT_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

struct Params {
  n: u32,
  h: u32,                 // gated channels (half of x's)
  hh: u32,                // image height
  w: u32,                 // image width
  strips: u32,            // ceil(w / 4)
  chunks: u32,            // row chunks per image
  rows_per_chunk: u32,
  total: u32,             // invocations with work
  units: u32,             // backward: (image, chunk, strip) units per channel
  units_per_split: u32,   // backward: units per invocation
  want_dx: u32,           // backward: store dx
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> dwp: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<storage, read> x4: array<vec4f>;
@group(0) @binding(8) var<storage, read> g4: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(10) var<storage, read_write> out4: array<vec4f>;

fn invocation(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// 3×3 taps of channel ch.
fn taps(ch: u32) -> array<f32, 9> {
  var k: array<f32, 9>;
  for (var i = 0u; i < 9u; i++) { k[i] = wt[ch * 9u + i]; }
  return k;
}

// #include "rows3x3.wgsl"

fn xAt(i: u32, ok: bool) -> f32 { return select(0.0, x[select(0u, i, ok)], ok); }
fn gAt(i: u32, ok: bool) -> f32 { return select(0.0, g[select(0u, i, ok)], ok); }

// Row iy of a plane of x (of g with isG), around the strip at ox0 (a multiple of 4): the
// strip's columns and one more on each side, two more with halo (the scalar form reads only
// those).
fn row3(plane: u32, iy: i32, ox0: u32, isG: bool, halo: bool) -> Row3 {
  var r: Row3;
  if (iy < 0 || iy >= i32(p.hh)) { return r; }
  let base = plane + u32(iy) * p.w;
  if (QUADS) {
    let q = (base + ox0) / 4u;
    let w4 = p.w / 4u;
    let left = ox0 > 0u;
    let right = ox0 / 4u + 1u < w4;
    if (isG) {
      r.a = select(vec4f(0.0), g4[select(q, q - 1u, left)], left);
      r.b = g4[q];
      r.c = select(vec4f(0.0), g4[select(q, q + 1u, right)], right);
    } else {
      r.a = select(vec4f(0.0), x4[select(q, q - 1u, left)], left);
      r.b = x4[q];
      r.c = select(vec4f(0.0), x4[select(q, q + 1u, right)], right);
    }
    return r;
  }
  let lo = select(3u, 2u, halo);
  let hi = select(9u, 10u, halo);
  var v: array<f32, 12>;
  for (var j = lo; j < hi; j++) {
    let ix = i32(ox0 + j) - 4;
    let ok = ix >= 0 && ix < i32(p.w);
    if (isG) { v[j] = gAt(base + u32(ix), ok); } else { v[j] = xAt(base + u32(ix), ok); }
  }
  r.a = vec4f(v[0], v[1], v[2], v[3]);
  r.b = vec4f(v[4], v[5], v[6], v[7]);
  r.c = vec4f(v[8], v[9], v[10], v[11]);
  return r;
}

// GELU_erf(v) and its derivative, erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), whose
// exp(−v²/2) the derivative shares.
struct Gelu4 {
  f: vec4f,
  d: vec4f,
}

fn gelu4(v: vec4f) -> Gelu4 {
  let z = abs(v) * INV_SQRT_2;
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let e = exp(-z * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let erfAbs = 1.0 - poly * e;
  let half1 = 0.5 * (1.0 + select(-erfAbs, erfAbs, v >= vec4f(0.0)));
  return Gelu4(v * half1, half1 + v * INV_SQRT_2PI * e);
}

struct Gelu2 {
  f: vec2f,
  d: vec2f,
}

fn gelu2(v: vec2f) -> Gelu2 {
  let r = gelu4(vec4f(v, v));
  return Gelu2(r.f.xy, r.d.xy);
}

// ---------------------------------------------------------------- forward

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  // id = ((n · h + c) · chunks + k) · strips + s
  let su = stripUnit(id, p.strips, p.chunks);
  let s = su.x;
  let k = su.y;
  let c = su.z % p.h;
  let n = su.z / p.h;
  let hw = p.hh * p.w;
  let plane1 = (n * 2u * p.h + c) * hw;
  let plane2 = plane1 + p.h * hw;
  let outPlane = (n * p.h + c) * hw;
  let ox0 = s * 4u;
  let r0 = i32(k * p.rows_per_chunk);
  let r1 = i32(min(k * p.rows_per_chunk + p.rows_per_chunk, p.hh));
  let k1 = taps(c);
  let k2 = taps(c + p.h);
  var a1 = row3(plane1, r0 - 1, ox0, false, false);
  var b1 = row3(plane1, r0, ox0, false, false);
  var a2 = row3(plane2, r0 - 1, ox0, false, false);
  var b2 = row3(plane2, r0, ox0, false, false);
  for (var r = r0; r < r1; r++) {
    let c1 = row3(plane1, r + 1, ox0, false, false);
    let c2 = row3(plane2, r + 1, ox0, false, false);
    let o = gelu4(conv4(k1, a1, b1, c1)).f * conv4(k2, a2, b2, c2);
    let at = outPlane + u32(r) * p.w + ox0;
    if (QUADS) {
      out4[at / 4u] = o;
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (ox0 + j < p.w) { out[at + j] = o[j]; }
      }
    }
    a1 = b1;
    b1 = c1;
    a2 = b2;
    b2 = c2;
  }
}

// ---------------------------------------------------------------- backward

// dy₁ = g ⊙ y₂ ⊙ GELU'(y₁) and dy₂ = g ⊙ GELU(y₁) of one row: the strip's columns (c1, c2) and
// its halo columns (h1, h2).
struct DyRow {
  c1: vec4f,
  c2: vec4f,
  h1: vec2f,
  h2: vec2f,
}

fn dyRow(k1: array<f32, 9>, k2: array<f32, 9>, a1: Row3, b1: Row3, c1: Row3, a2: Row3, b2: Row3, c2: Row3, gr: Row3) -> DyRow {
  let y1 = gelu4(conv4(k1, a1, b1, c1));
  let y2 = conv4(k2, a2, b2, c2);
  let h1 = gelu2(conv2(k1, a1, b1, c1));
  let h2 = conv2(k2, a2, b2, c2);
  let gh = halo0(gr);
  return DyRow(gr.b * y2 * y1.d, gr.b * y1.f, gh * h2 * h1.d, gh * h1.f);
}

// dx at the strip's columns from dy rows above (ky = 2), at (ky = 1) and below (ky = 0) the
// output row: Σ k[ky, kx] · dy[row + 1 − ky, col + 1 − kx].
fn dxRow(k: array<f32, 9>, below: vec4f, hb: vec2f, at: vec4f, ha: vec2f, above: vec4f, hu: vec2f) -> vec4f {
  var s = k[0] * vec4f(below.yzw, hb.y) + k[1] * below + k[2] * vec4f(hb.x, below.xyz);
  s += k[3] * vec4f(at.yzw, ha.y) + k[4] * at + k[5] * vec4f(ha.x, at.xyz);
  return s + k[6] * vec4f(above.yzw, hu.y) + k[7] * above + k[8] * vec4f(hu.x, above.xyz);
}

// Σ over the strip's columns of dy · x shifted by kx − 1, for the three taps of one kernel row.
fn dwRow(d: vec4f, r: Row3) -> vec3f {
  return vec3f(dot(d, left1(r)), dot(d, r.b), dot(d, right1(r)));
}

@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  // id = split · h + c; strips of 4 columns
  let c = id % p.h;
  let split = id / p.h;
  let hw = p.hh * p.w;
  let k1 = taps(c);
  let k2 = taps(c + p.h);
  var dw1: array<vec3f, 3>;
  var dw2: array<vec3f, 3>;
  let u0 = split * p.units_per_split;
  let u1 = min(u0 + p.units_per_split, p.units);
  for (var u = u0; u < u1; u++) {
    // u = (n · chunks + k) · strips + s
    let su = stripUnit(u, p.strips, p.chunks);
    let s = su.x;
    let k = su.y;
    let n = su.z;
    let plane1 = (n * 2u * p.h + c) * hw;
    let plane2 = plane1 + p.h * hw;
    let gPlane = (n * p.h + c) * hw;
    let ox0 = s * 4u;
    let r0 = i32(k * p.rows_per_chunk);
    let r1 = i32(min(k * p.rows_per_chunk + p.rows_per_chunk, p.hh));
    // x rows q − 1, q, q + 1, dy rows q − 2, q − 1, q
    var xa1: Row3;
    var xa2: Row3;
    var xb1 = row3(plane1, r0 - 2, ox0, false, true);
    var xb2 = row3(plane2, r0 - 2, ox0, false, true);
    var xc1 = row3(plane1, r0 - 1, ox0, false, true);
    var xc2 = row3(plane2, r0 - 1, ox0, false, true);
    var da: DyRow;
    var db: DyRow;
    var dc: DyRow;
    for (var q = r0 - 1; q <= r1; q++) {
      xa1 = xb1;
      xb1 = xc1;
      xc1 = row3(plane1, q + 1, ox0, false, true);
      xa2 = xb2;
      xb2 = xc2;
      xc2 = row3(plane2, q + 1, ox0, false, true);
      da = db;
      db = dc;
      dc = dyRow(k1, k2, xa1, xb1, xc1, xa2, xb2, xc2, row3(gPlane, q, ox0, true, false));
      // weight gradient from this unit's own dy (row q); dy is zero outside the image, so
      // columns past the edge add nothing
      if (q >= r0 && q < r1) {
        dw1[0] += dwRow(dc.c1, xa1);
        dw1[1] += dwRow(dc.c1, xb1);
        dw1[2] += dwRow(dc.c1, xc1);
        dw2[0] += dwRow(dc.c2, xa2);
        dw2[1] += dwRow(dc.c2, xb2);
        dw2[2] += dwRow(dc.c2, xc2);
      }
      // dx row q − 1
      if (p.want_dx != 0u && q - 1 >= r0) {
        let o1 = dxRow(k1, dc.c1, dc.h1, db.c1, db.h1, da.c1, da.h1);
        let o2 = dxRow(k2, dc.c2, dc.h2, db.c2, db.h2, da.c2, da.h2);
        let at = u32(q - 1) * p.w + ox0;
        if (QUADS) {
          dx4[(plane1 + at) / 4u] = o1;
          dx4[(plane2 + at) / 4u] = o2;
        } else {
          for (var j = 0u; j < 4u; j++) {
            if (ox0 + j < p.w) {
              dx[plane1 + at + j] = o1[j];
              dx[plane2 + at + j] = o2[j];
            }
          }
        }
      }
    }
  }
  // dwp[split, ch, tap]
  let b1 = (split * 2u * p.h + c) * 9u;
  let b2 = (split * 2u * p.h + c + p.h) * 9u;
  for (var i = 0u; i < 9u; i++) {
    dwp[b1 + i] = dw1[i / 3u][i % 3u];
    dwp[b2 + i] = dw2[i / 3u][i % 3u];
  }
}
