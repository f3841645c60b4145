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
  rows: u32, cols: u32,             // forward: tile rows and columns per output plane
  total: u32,                       // invocations with work
  rows_per_split: u32,              // backward_weight: pairs of output rows per slice
  has_bias: u32,                    // forward: add bias[oc] (a runtime flag: one pipeline fewer)
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dwp: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

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
