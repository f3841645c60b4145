// Gated depthwise-conv FFN core (Restormer's GDFN, LRDif's DGNet), fused:
//   y = DWConv3×3(x) over 2h channels (padding 1, no bias);  out = GELU_erf(y[:, :h]) ⊙ y[:, h:].
// x [N, 2h, H, W], wt [2h, 1, 3, 3], out [N, h, H, W].
//
// `forward`   one invocation: channel c of one image, a strip of PX output columns over a chunk
//             of rows. It slides a 3-row register window down the strip for both halves (input
//             channels c and c + h), so every input value is loaded once per strip (plus a
//             1-column halo on each side) and the 2h-channel y never touches memory.
// `backward`  one invocation: channel c (both halves) over a slice of (image, row chunk, strip)
//             units. Per row it recomputes y at PX + 2 columns from a 3-row window of x
//             (PX + 4 columns), forms dy₁ = g ⊙ y₂ ⊙ GELU'(y₁), dy₂ = g ⊙ GELU(y₁) in registers,
//             keeps the last three dy rows, and from them writes one dx row (the depthwise
//             transpose: the kernel rotated by 180°) and adds dy ⊗ x into the 18 weight-gradient
//             accumulators. Each invocation writes its accumulators to dwp[split]; the splits are
//             summed afterwards in a fixed order (deterministic, no atomics).
// Loads and stores run in runtime loops (CPU drivers expand every buffer access per invocation,
// so unrolled accesses would multiply the code to compile); arithmetic runs from registers.
override PX: u32 = 8u;           // output columns per invocation, ≤ MAXPX

const MAXPX: u32 = 8u;
const WG: u32 = 64u;
// #include "activation.wgsl"

struct Params {
  n: u32,
  h: u32,                 // gated channels (half of x's)
  hh: u32,                // image height
  w: u32,                 // image width
  strips: u32,            // ceil(w / PX)
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

fn invocation(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// Columns ix0 … ix0 + count − 1 of row iy of a plane of `x` (zero outside the image).
fn xRow(plane: u32, iy: i32, ix0: i32, count: u32) -> array<f32, 12> {
  var r: array<f32, 12>;
  if (iy < 0 || iy >= i32(p.hh)) { return r; }
  let base = plane + u32(iy) * p.w;
  let last = i32(p.w) - 1;
  for (var q = 0u; q < count; q++) {
    let ix = ix0 + i32(q);
    r[q] = select(0.0, x[base + u32(clamp(ix, 0, last))], ix >= 0 && ix <= last);
  }
  return r;
}

// The same for the output gradient g.
fn gRow(plane: u32, iy: i32, ix0: i32, count: u32) -> array<f32, 12> {
  var r: array<f32, 12>;
  if (iy < 0 || iy >= i32(p.hh)) { return r; }
  let base = plane + u32(iy) * p.w;
  let last = i32(p.w) - 1;
  for (var q = 0u; q < count; q++) {
    let ix = ix0 + i32(q);
    r[q] = select(0.0, g[base + u32(clamp(ix, 0, last))], ix >= 0 && ix <= last);
  }
  return r;
}

// 3×3 taps of channel ch.
fn taps(ch: u32) -> array<f32, 9> {
  var k: array<f32, 9>;
  for (var i = 0u; i < 9u; i++) { k[i] = wt[ch * 9u + i]; }
  return k;
}

// Σ_{ky,kx} k[ky, kx] · row_ky[q + kx]
fn conv3(k: array<f32, 9>, r0: array<f32, 12>, r1: array<f32, 12>, r2: array<f32, 12>, q: u32) -> f32 {
  var s = k[0] * r0[q];
  s = fma(k[1], r0[q + 1u], s);
  s = fma(k[2], r0[q + 2u], s);
  s = fma(k[3], r1[q], s);
  s = fma(k[4], r1[q + 1u], s);
  s = fma(k[5], r1[q + 2u], s);
  s = fma(k[6], r2[q], s);
  s = fma(k[7], r2[q + 1u], s);
  s = fma(k[8], r2[q + 2u], s);
  return s;
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  // id = ((n · h + c) · chunks + k) · strips + s
  let s = id % p.strips;
  var rest = id / p.strips;
  let k = rest % p.chunks;
  rest = rest / p.chunks;
  let c = rest % p.h;
  let n = rest / p.h;
  let hw = p.hh * p.w;
  let plane1 = (n * 2u * p.h + c) * hw;
  let plane2 = plane1 + p.h * hw;
  let outPlane = (n * p.h + c) * hw;
  let ox0 = s * PX;
  let ix0 = i32(ox0) - 1;
  let r0 = k * p.rows_per_chunk;
  let r1 = min(r0 + p.rows_per_chunk, p.hh);
  let k1 = taps(c);
  let k2 = taps(c + p.h);
  let cols = min(PX, p.w - ox0);

  var a1 = xRow(plane1, i32(r0) - 1, ix0, PX + 2u);
  var b1 = xRow(plane1, i32(r0), ix0, PX + 2u);
  var a2 = xRow(plane2, i32(r0) - 1, ix0, PX + 2u);
  var b2 = xRow(plane2, i32(r0), ix0, PX + 2u);
  for (var r = r0; r < r1; r++) {
    let c1 = xRow(plane1, i32(r) + 1, ix0, PX + 2u);
    let c2 = xRow(plane2, i32(r) + 1, ix0, PX + 2u);
    var o: array<f32, MAXPX>;
    for (var q = 0u; q < PX; q++) {
      let y1 = conv3(k1, a1, b1, c1, q);
      let y2 = conv3(k2, a2, b2, c2, q);
      o[q] = act(ACT_GELU, y1, 0.0) * y2;
    }
    let rowBase = outPlane + r * p.w + ox0;
    for (var q = 0u; q < cols; q++) { out[rowBase + q] = o[q]; }
    a1 = b1;
    b1 = c1;
    a2 = b2;
    b2 = c2;
  }
}

// dy₁ and dy₂ at PX + 2 columns (from ox0 − 1) of one row, from x rows above, at and below it
// (PX + 4 columns from ox0 − 2) and the output gradient row gr.
struct DyRow {
  d1: array<f32, 12>,
  d2: array<f32, 12>,
}

fn dyRow(k1: array<f32, 9>, k2: array<f32, 9>, a1: array<f32, 12>, b1: array<f32, 12>, c1: array<f32, 12>,
         a2: array<f32, 12>, b2: array<f32, 12>, c2: array<f32, 12>, gr: array<f32, 12>) -> DyRow {
  var d: DyRow;
  for (var q = 0u; q < PX + 2u; q++) {
    let y1 = conv3(k1, a1, b1, c1, q);
    let y2 = conv3(k2, a2, b2, c2, q);
    let gelu = act(ACT_GELU, y1, 0.0);
    let dgelu = dact(ACT_GELU, y1, gelu, 0.0);
    d.d1[q] = gr[q] * y2 * dgelu;
    d.d2[q] = gr[q] * gelu;
  }
  return d;
}

@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  // id = split · h + c
  let c = id % p.h;
  let split = id / p.h;
  let hw = p.hh * p.w;
  let k1 = taps(c);
  let k2 = taps(c + p.h);
  var dw1: array<f32, 9>;
  var dw2: array<f32, 9>;
  let u0 = split * p.units_per_split;
  let u1 = min(u0 + p.units_per_split, p.units);
  for (var u = u0; u < u1; u++) {
    // u = (n · chunks + k) · strips + s
    let s = u % p.strips;
    let k = (u / p.strips) % p.chunks;
    let n = u / (p.strips * p.chunks);
    let plane1 = (n * 2u * p.h + c) * hw;
    let plane2 = plane1 + p.h * hw;
    let gPlane = (n * p.h + c) * hw;
    let ox0 = s * PX;
    let r0 = i32(k * p.rows_per_chunk);
    let r1 = i32(min(k * p.rows_per_chunk + p.rows_per_chunk, p.hh));
    let cols = min(PX, p.w - ox0);
    // x rows q − 1, q, q + 1 (columns ox0 − 2 …), dy rows q − 2, q − 1, q (columns ox0 − 1 …)
    var xa1: array<f32, 12>;
    var xa2: array<f32, 12>;
    var xb1 = xRow(plane1, r0 - 2, i32(ox0) - 2, PX + 4u);
    var xb2 = xRow(plane2, r0 - 2, i32(ox0) - 2, PX + 4u);
    var xc1 = xRow(plane1, r0 - 1, i32(ox0) - 2, PX + 4u);
    var xc2 = xRow(plane2, r0 - 1, i32(ox0) - 2, PX + 4u);
    var da: DyRow;
    var db: DyRow;
    var dc: DyRow;
    for (var q = r0 - 1; q <= r1; q++) {
      xa1 = xb1;
      xb1 = xc1;
      xc1 = xRow(plane1, q + 1, i32(ox0) - 2, PX + 4u);
      xa2 = xb2;
      xb2 = xc2;
      xc2 = xRow(plane2, q + 1, i32(ox0) - 2, PX + 4u);
      let gr = gRow(gPlane, q, i32(ox0) - 1, PX + 2u);
      da = db;
      db = dc;
      dc = dyRow(k1, k2, xa1, xb1, xc1, xa2, xb2, xc2, gr);
      // weight gradient from this unit's own dy (row q, the strip's PX columns); dy is zero
      // outside the image, so columns past the edge add nothing
      if (q >= r0 && q < r1) {
        for (var j = 1u; j <= PX; j++) {
          let e1 = dc.d1[j];
          let e2 = dc.d2[j];
          for (var kx = 0u; kx < 3u; kx++) {
            dw1[kx] = fma(e1, xa1[j + kx], dw1[kx]);
            dw1[3u + kx] = fma(e1, xb1[j + kx], dw1[3u + kx]);
            dw1[6u + kx] = fma(e1, xc1[j + kx], dw1[6u + kx]);
            dw2[kx] = fma(e2, xa2[j + kx], dw2[kx]);
            dw2[3u + kx] = fma(e2, xb2[j + kx], dw2[3u + kx]);
            dw2[6u + kx] = fma(e2, xc2[j + kx], dw2[6u + kx]);
          }
        }
      }
      // dx row q − 1: dx[iy, ix] = Σ k[ky, kx] · dy[iy + 1 − ky, ix + 1 − kx]
      if (p.want_dx != 0u && q - 1 >= r0) {
        var o1: array<f32, MAXPX>;
        var o2: array<f32, MAXPX>;
        for (var j = 0u; j < PX; j++) {
          var s1 = 0.0;
          var s2 = 0.0;
          for (var kx = 0u; kx < 3u; kx++) {
            let col = j + 2u - kx;
            s1 = fma(k1[kx], dc.d1[col], s1);
            s1 = fma(k1[3u + kx], db.d1[col], s1);
            s1 = fma(k1[6u + kx], da.d1[col], s1);
            s2 = fma(k2[kx], dc.d2[col], s2);
            s2 = fma(k2[3u + kx], db.d2[col], s2);
            s2 = fma(k2[6u + kx], da.d2[col], s2);
          }
          o1[j] = s1;
          o2[j] = s2;
        }
        let row = u32(q - 1) * p.w + ox0;
        for (var j = 0u; j < cols; j++) {
          dx[plane1 + row + j] = o1[j];
          dx[plane2 + row + j] = o2[j];
        }
      }
    }
  }
  // dwp[split, ch, tap]
  let b1 = (split * 2u * p.h + c) * 9u;
  let b2 = (split * 2u * p.h + c + p.h) * 9u;
  var v1 = dw1;
  var v2 = dw2;
  for (var i = 0u; i < 9u; i++) {
    dwp[b1 + i] = v1[i];
    dwp[b2 + i] = v2[i];
  }
}
