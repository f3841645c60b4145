// General 2-D convolution, NCHW, weight [O, C/groups, KH, KW] (PyTorch layout): a register-tiled
// direct convolution, and the kernels its backward pass needs.
//
// Written for CPU WebGPU drivers (lavapipe) first: there every invocation's load from a buffer
// costs about a dozen scalar instructions, whatever its address, while arithmetic is SIMD. So each
// invocation keeps a large tile of accumulators and reuses every value it loads many times.
//
// `forward`          y[n, oc, oy, ox] = bias[oc] + Σ x[n, g·CG + ci, oy·SH − PT + ky·DH, ox·SW − PL + kx·DW] · w[oc, ci, ky, kx]
//                    one invocation: OCT output channels of one group × PX consecutive output columns.
//                    With WINDOW, the input columns a row of taps needs are loaded once into registers.
// `flip_weight`      wt' [C, O/groups, KH, KW] = w rotated by 180° with in/out channels swapped, so
//                    dx = forward(dy, wt') with stride 1 (a transposed convolution).
// `dilate`           dy with SH−1 zero rows (SW−1 zero columns) between its rows (columns), for dx
//                    of a strided convolution.
// `backward_weight`  dw partials: one invocation accumulates OCT output channels × a block of up to
//                    3×4 taps of one input channel over a slice of the (n, oy) rows; slices are
//                    summed afterwards in a fixed order (deterministic: no atomics).
// Only the column geometry is specialised: the loops over kernel columns (and register windows
// indexed by them) must unroll; rows stay runtime loops, which keeps pipelines small to compile.
override KW: u32 = 3u;
override SW: u32 = 1u;
override DW: u32 = 1u;
override OCT: u32 = 8u;          // output channels per invocation: 1, 2, 4 or 8
override PX: u32 = 8u;           // forward: output columns per invocation, 4 or 8
override WINDOW: bool = true;    // forward: (PX − 1)·SW + (KW − 1)·DW + 1 ≤ MAXWIN

const MAXWIN: u32 = 40u;
const WG: u32 = 64u;

struct Params {
  n: u32, c: u32, h: u32, w: u32,        // input shape
  o: u32, oh: u32, ow: u32, groups: u32, // output channels and size
  kh: u32, sh: u32, dh: u32,             // kernel rows, row stride and row dilation
  pt: i32, pl: i32,                      // top/left padding (negative: crop)
  cg: u32, og: u32,                      // input and output channels per group
  blocks: u32,                           // output-channel blocks (of OCT) per group
  cols: u32,                             // forward: column blocks (of PX) per output row
  total: u32,                            // invocations with work (1-D grids)
  rows_per_split: u32,                   // backward_weight: (n, oy) rows per slice
  has_bias: u32,                         // forward: add bias[oc] (a runtime flag: one pipeline fewer)
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

// x[row + ix], or 0 outside [0, W).
fn xAt(row: u32, ix: i32) -> f32 {
  let wl = i32(p.w);
  return select(0.0, x[row + u32(clamp(ix, 0, wl - 1))], ix >= 0 && ix < wl);
}

// grid: x = blocks of 64 (oy, column block) tiles, y = group · blocks + block, z = n.
@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x * WG + lid;
  if (tile >= p.oh * p.cols) { return; }
  let cb = tile % p.cols;
  let oy = tile / p.cols;
  let n = wid.z;
  let g = wid.y / p.blocks;
  let oc0 = g * p.og + (wid.y % p.blocks) * OCT;
  let ocEnd = min(oc0 + OCT, (g + 1u) * p.og);  // the block may run past its group's channels
  let ox0 = cb * PX;
  let win = (PX - 1u) * SW + (KW - 1u) * DW + 1u;

  // acc[j][v]: output channel oc0 + j, columns ox0 + 4v … ox0 + 4v + 3
  var acc: array<array<vec4f, 2>, 8>;
  let iy0 = i32(oy * p.sh) - p.pt;
  let ix0 = i32(ox0 * SW) - p.pl;
  // past the group's last channel, reread its weights (those results are not stored)
  let wStride = p.cg * p.kh * KW;
  let last = ocEnd - 1u - oc0;
  var wOff: array<u32, 8>;
  for (var j = 0u; j < 8u; j++) { wOff[j] = min(j, last) * wStride; }

  for (var ci = 0u; ci < p.cg; ci++) {
    let xPlane = (n * p.c + g * p.cg + ci) * p.h;
    let wBase = (oc0 * p.cg + ci) * p.kh * KW;
    for (var ky = 0u; ky < p.kh; ky++) {
      let iy = iy0 + i32(ky * p.dh);
      if (iy < 0 || iy >= i32(p.h)) { continue; }
      let xRow = (xPlane + u32(iy)) * p.w;
      var xs: array<f32, MAXWIN>;
      if (WINDOW) {
        for (var t = 0u; t < win; t++) { xs[t] = xAt(xRow, ix0 + i32(t)); }
      }
      for (var kx = 0u; kx < KW; kx++) {
        var wv: array<f32, 8>;
        for (var j = 0u; j < OCT; j++) { wv[j] = wt[wBase + wOff[j] + ky * KW + kx]; }
        for (var v = 0u; v < PX / 4u; v++) {
          let b = 4u * v * SW + kx * DW;
          var xq: vec4f;
          if (WINDOW) {
            xq = vec4f(xs[b], xs[b + SW], xs[b + 2u * SW], xs[b + 3u * SW]);
          } else {
            xq = vec4f(xAt(xRow, ix0 + i32(b)), xAt(xRow, ix0 + i32(b + SW)),
                       xAt(xRow, ix0 + i32(b + 2u * SW)), xAt(xRow, ix0 + i32(b + 3u * SW)));
          }
          for (var j = 0u; j < OCT; j++) { acc[j][v] = fma(vec4f(wv[j]), xq, acc[j][v]); }
        }
      }
    }
  }
  storeTile(acc, n, oc0, ocEnd, oy, ox0);
}

// Writes the tile through a runtime loop over one store: each buffer access is expanded per
// invocation by CPU drivers, so unrolled stores would multiply the code to compile.
fn storeTile(acc: array<array<vec4f, 2>, 8>, n: u32, oc0: u32, ocEnd: u32, oy: u32, ox0: u32) {
  var vals = acc;
  for (var k = 0u; k < (ocEnd - oc0) * PX; k++) {
    let j = k / PX;
    let q = k % PX;
    if (ox0 + q >= p.ow) { continue; }
    var b = 0.0;
    if (p.has_bias != 0u) { b = bias[oc0 + j]; }
    y[((n * p.o + oc0 + j) * p.oh + oy) * p.ow + ox0 + q] = vals[j][q / 4u][q % 4u] + b;
  }
}

// y = wt' [C, OG, KH, KW] from wt [O, CG, KH, KW]: wt'[g·CG + cl, ol, ky, kx] = wt[g·OG + ol, cl, KH−1−ky, KW−1−kx].
@compute @workgroup_size(64)
fn flip_weight(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let taps = p.kh * KW;
  let tap = i % taps;
  var rest = i / taps;
  let ol = rest % p.og;
  let c = rest / p.og;
  let g = c / p.cg;
  let cl = c % p.cg;
  y[i] = wt[((g * p.og + ol) * p.cg + cl) * taps + (taps - 1u - tap)];
}

// y [N, O, (OH−1)·SH + 1, (OW−1)·SW + 1] from dy [N, O, OH, OW]: dy spread out, zeros between.
@compute @workgroup_size(64)
fn dilate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let uh = (p.oh - 1u) * p.sh + 1u;
  let uw = (p.ow - 1u) * SW + 1u;
  let u = i % uw;
  var rest = i / uw;
  let v = rest % uh;
  let plane = rest / uh;
  let hit = u % SW == 0u && v % p.sh == 0u;
  y[i] = select(0.0, dy[(plane * p.oh + v / p.sh) * p.ow + u / SW], hit);
}

// dwp[split, oc, ci, ky, kx]: the sum over the split's (n, oy) rows. One invocation: OCT output
// channels × a block of taps (KYT rows of up to 4 columns), walking its rows 4 output columns at
// a time: 4·OCT gradient loads and KYT input windows feed 16·OCT·KYT multiply-adds.
// id = (((split · groups·blocks + gb) · CG + ci) · kyBlocks + kyb) · kxBlocks + kxb.
override KYT: u32 = 3u;          // backward_weight: tap rows per invocation, ≤ 3
override XWINDOW: bool = true;   // backward_weight: 3·SW + 3·DW + 1 ≤ MAXWX
const MAXWX: u32 = 24u;

@compute @workgroup_size(64)
fn backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = invocation(wid, nwg, lid);
  if (id >= p.total) { return; }
  let kxBlocks = (KW + 3u) / 4u;
  let kyBlocks = (p.kh + KYT - 1u) / KYT;
  let kxb = id % kxBlocks;
  var rest = id / kxBlocks;
  let kyb = rest % kyBlocks;
  rest = rest / kyBlocks;
  let ci = rest % p.cg;
  rest = rest / p.cg;
  let gb = rest % (p.groups * p.blocks);
  let split = rest / (p.groups * p.blocks);
  let g = gb / p.blocks;
  let oc0 = g * p.og + (gb % p.blocks) * OCT;
  let ocEnd = min(oc0 + OCT, (g + 1u) * p.og);
  let kx0 = kxb * 4u;
  let ky0 = kyb * KYT;
  let plane = p.oh * p.ow;
  let last = ocEnd - 1u - oc0;
  var dyOff: array<u32, 8>;
  for (var j = 0u; j < 8u; j++) { dyOff[j] = min(j, last) * plane; }
  let wx = 3u * SW + 3u * DW + 1u;

  // acc[j][r][t]: output channel oc0 + j, tap (ky0 + r, kx0 + t)
  var acc: array<array<vec4f, 3>, 8>;
  let rows = p.n * p.oh;
  let r0 = split * p.rows_per_split;
  let r1 = min(r0 + p.rows_per_split, rows);
  for (var rr = r0; rr < r1; rr++) {
    let n = rr / p.oh;
    let oy = rr % p.oh;
    let xPlane = (n * p.c + g * p.cg + ci) * p.h;
    let dyRow = (n * p.o + oc0) * plane + oy * p.ow;
    for (var ox0 = 0u; ox0 < p.ow; ox0 += 4u) {
      // four output columns (past the row's end: gradient 0)
      let inRow = vec4<bool>(true, ox0 + 1u < p.ow, ox0 + 2u < p.ow, ox0 + 3u < p.ow);
      let cols = min(vec4u(ox0, ox0 + 1u, ox0 + 2u, ox0 + 3u), vec4u(p.ow - 1u));
      var d: array<vec4f, 8>;
      for (var j = 0u; j < OCT; j++) {
        let b = dyRow + dyOff[j];
        d[j] = select(vec4f(0.0), vec4f(dy[b + cols.x], dy[b + cols.y], dy[b + cols.z], dy[b + cols.w]), inRow);
      }
      let ix0 = i32(ox0 * SW + kx0 * DW) - p.pl;
      for (var r = 0u; r < KYT; r++) {
        let iy = i32(oy * p.sh + (ky0 + r) * p.dh) - p.pt;
        if (iy < 0 || iy >= i32(p.h)) { continue; }
        let xRow = (xPlane + u32(iy)) * p.w;
        var xs: array<f32, MAXWX>;
        if (XWINDOW) {
          for (var i = 0u; i < wx; i++) { xs[i] = xAt(xRow, ix0 + i32(i)); }
        }
        var xq: array<vec4f, 4>;
        for (var t = 0u; t < 4u; t++) {
          let b = t * DW;
          if (XWINDOW) {
            xq[t] = vec4f(xs[b], xs[b + SW], xs[b + 2u * SW], xs[b + 3u * SW]);
          } else {
            xq[t] = vec4f(xAt(xRow, ix0 + i32(b)), xAt(xRow, ix0 + i32(b + SW)),
                          xAt(xRow, ix0 + i32(b + 2u * SW)), xAt(xRow, ix0 + i32(b + 3u * SW)));
          }
        }
        for (var j = 0u; j < OCT; j++) {
          acc[j][r] += vec4f(dot(d[j], xq[0]), dot(d[j], xq[1]), dot(d[j], xq[2]), dot(d[j], xq[3]));
        }
      }
    }
  }
  // one store in a runtime loop (see storeTile)
  var vals = acc;
  let nw = p.o * p.cg * p.kh * KW;
  for (var k = 0u; k < (ocEnd - oc0) * KYT * 4u; k++) {
    let j = k / (KYT * 4u);
    let r = (k / 4u) % KYT;
    let t = k % 4u;
    if (ky0 + r >= p.kh || kx0 + t >= KW) { continue; }
    dwp[split * nw + (((oc0 + j) * p.cg + ci) * p.kh + ky0 + r) * KW + kx0 + t] = vals[j][r][t];
  }
}
