// The DDPM inference chain in one dispatch (see ddpm.wgsl for the chain itself), for adapters
// with subgroups of at least 8 invocations: the fast path on lavapipe, whose subgroups are its 8
// SIMD lanes and where every per-lane buffer load is a scalar loop over the lanes.
//
// One workgroup = one subgroup of 8 lanes carries R batch rows (8, 16 or 32) through all T steps.
// Each layer is a small matmul in the style of matmul_sg.wgsl: lane l owns 4 output columns of
// every 32-column tile for all R rows (R vec4 accumulators); per 4 values of k it loads its 4
// weight rows' 4 values (vec4 loads: two when a row is not 16-byte aligned) and one vec4 of its
// own row of the layer input from workgroup memory, and subgroupBroadcast hands every row to
// every lane, so each weight is loaded once per R rows and each input value once.
// Workgroup memory holds one layer input for the R rows (row stride kx4 vec4s, zero-padded, so
// the masked last step of k multiplies zeros): the condition c, then Z_t, then each hidden
// activation. A layer's outputs wait in a scratch buffer until every lane has read its input (a
// barrier), then replace it. Each lane also keeps its own columns of Z_t and of the first layer's
// constant part (b₁ + W₁[:, C+1:]·c, computed once) in the scratch buffer, where only it reads
// and writes them (per workgroup: the accumulators of one tile, then Z_t, the constant part and
// a layer's output, each [tile][row][lane] vec4s). Private arrays would be smaller code to write
// but not to compile: lavapipe expands a dynamically indexed private array at every access, and
// such arrays made this kernel take half a minute to compile.
// The layers run as one loop of jobs (the constant part, then per step: first, hidden…, output)
// with a single copy of the inner loop (every copy costs compile time on a CPU adapter).
enable subgroups;

const MAXC: u32 = 384u;
const MAXW: u32 = 256u;
const WGV: u32 = 2048u;            // workgroup vec4s (32 KiB)

override R: u32 = 16u;             // batch rows per workgroup: 8, 16 or 32

struct Params {
  rows: u32,           // batch size B
  c: u32,              // prior size C
  w: u32,              // denoiser width W
  nh: u32,             // hidden W → W layers
  steps: u32,          // T
  slope: f32,
  draw: u32,           // 1: draw Z_T with Philox, 0: read it from zt
  key0: u32,
  key1: u32,
  ctr0: u32,
  ctr1: u32,
  o_w1: u32,           // offsets (in floats) into prm
  o_b1: u32,
  o_wh: u32,
  o_bh: u32,
  o_w2: u32,
  o_b2: u32,
  kx4: u32,            // row stride of the layer input in workgroup memory (vec4s)
  aligned: u32,        // hidden and output weight rows are 16-byte aligned (W % 4 == 0)
  // = R, passed at run time so that the compiler cannot unroll the loops over rows outside the
  // inner loop (every unrolled buffer access is more code to compile)
  rt: u32,
  scr_zp: u32,         // scratch regions within a workgroup's part (vec4s): accumulators at 0,
  scr_pp: u32,         // Z_t, the constant part, a layer's output
  scr_hp: u32,
  scr_size: u32,       // vec4s per workgroup
  coef: array<vec4f, 32>,   // per step t (index t − 1): (a_t, b_t, t/(10·T), unused)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> zt: array<f32>;
@group(0) @binding(2) var<storage, read> cond: array<f32>;
// prm and prm4: the same buffer as scalars and as vec4s
@group(0) @binding(3) var<storage, read> prm: array<f32>;
@group(0) @binding(4) var<storage, read> prm4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> scr: array<vec4f>;

var<workgroup> buf: array<vec4f, WGV>;
// this workgroup's part of scr
var<private> sbase: u32;

// #include "philox_stream.wgsl"

// ---------------------------------------------------------------- layers

fn leaky4(v: vec4f) -> vec4f {
  return select(p.slope * v, v, v > vec4f(0.0));
}

// prm[off … off + 3] as a vec4: one load when rows are aligned, else two and a shift.
fn wload(off: u32, aligned: bool) -> vec4f {
  let base = off / 4u;
  let a = prm4[base];
  if (aligned) { return a; }
  let b = prm4[base + 1u];
  let s = off % 4u;
  let v1 = vec4f(a.y, a.z, a.w, b.x);
  let v2 = vec4f(a.z, a.w, b.x, b.y);
  let v3 = vec4f(a.w, b.x, b.y, b.z);
  return select(select(select(a, v1, s == 1u), v2, s == 2u), v3, s == 3u);
}

// Four values of prm from off (entries at or past `count` are 0): biases and one weight column.
fn vals4(off: u32, stride: u32, first: u32, count: u32) -> vec4f {
  var v: vec4f;
  for (var q = 0u; q < 4u; q++) {
    let j = first + q;
    v[q] = select(0.0, prm[off + min(j, count - 1u) * stride], j < count);
  }
  return v;
}

fn f4(a: vec4f, t: vec4f, wq: array<vec4f, 4>) -> vec4f {
  return fma(vec4f(t.w), wq[3], fma(vec4f(t.z), wq[2], fma(vec4f(t.y), wq[1], fma(vec4f(t.x), wq[0], a))));
}

// Rows i … i + 7 (one from each lane) times the lane's 4 × 4 weight block.
fn bc8(acc: ptr<function, array<vec4f, 32>>, i: u32, xv: vec4f, wq: array<vec4f, 4>) {
  (*acc)[i] = f4((*acc)[i], subgroupBroadcast(xv, 0u), wq);
  (*acc)[i + 1u] = f4((*acc)[i + 1u], subgroupBroadcast(xv, 1u), wq);
  (*acc)[i + 2u] = f4((*acc)[i + 2u], subgroupBroadcast(xv, 2u), wq);
  (*acc)[i + 3u] = f4((*acc)[i + 3u], subgroupBroadcast(xv, 3u), wq);
  (*acc)[i + 4u] = f4((*acc)[i + 4u], subgroupBroadcast(xv, 4u), wq);
  (*acc)[i + 5u] = f4((*acc)[i + 5u], subgroupBroadcast(xv, 5u), wq);
  (*acc)[i + 6u] = f4((*acc)[i + 6u], subgroupBroadcast(xv, 6u), wq);
  (*acc)[i + 7u] = f4((*acc)[i + 7u], subgroupBroadcast(xv, 7u), wq);
}

// acc[r] = Σ_{k < K} in[r, k] · W[j … j+3, k] for the R rows of the layer input (row stride
// inStride vec4s); W's row j at wBase + j·wStride; columns at or past jmax read row jmax − 1.
// The accumulators go to the scratch buffer (acc region), row r at sbase + r·8 + lid.
fn dense(inStride: u32, K: u32, wBase: u32, wStride: u32, aligned: bool, j: u32, jmax: u32, lid: u32) {
  var acc: array<vec4f, 32>;
  var rowOff: array<u32, 4>;
  for (var jj = 0u; jj < 4u; jj++) { rowOff[jj] = wBase + min(j + jj, jmax - 1u) * wStride; }
  for (var k = 0u; k < K; k += 4u) {
    var wr: array<vec4f, 4>;
    for (var jj = 0u; jj < 4u; jj++) { wr[jj] = wload(rowOff[jj] + k, aligned); }
    // transpose to wq[q] = W[j … j+3, k + q]; k + q past K gives 0 (its input is a zero pad,
    // but past a row's end the weights are the next row's or whatever the buffer holds)
    var wq: array<vec4f, 4>;
    for (var q = 0u; q < 4u; q++) {
      wq[q] = select(vec4f(0.0), vec4f(wr[0][q], wr[1][q], wr[2][q], wr[3][q]), k + q < K);
    }
    // the groups of 8 rows written out: a loop here is not unrolled for R = 32, and the
    // accumulators then live in memory (measured ~1.5× slower)
    let kk = k / 4u;
    bc8(&acc, 0u, buf[lid * inStride + kk], wq);
    if (R > 8u) { bc8(&acc, 8u, buf[(8u + lid) * inStride + kk], wq); }
    if (R > 16u) {
      bc8(&acc, 16u, buf[(16u + lid) * inStride + kk], wq);
      bc8(&acc, 24u, buf[(24u + lid) * inStride + kk], wq);
    }
  }
  // one store site in a runtime loop (32 unrolled stores cost seconds of compile time)
  for (var r = 0u; r < p.rt; r++) { scr[sbase + r * 8u + lid] = acc[r]; }
}

// Scratch index of (tile t, row r) of the lane's columns in the region at `region`.
fn sidx(region: u32, t: u32, r: u32, lid: u32) -> u32 {
  return sbase + region + (t * p.rt + r) * 8u + lid;
}

// Z_t (kind 2, 3) or the last layer's output (kind 0, 1) from private memory into the layer
// input in workgroup memory, after every lane has read the previous one.
fn store_input(fromZ: bool, tiles: u32, lid: u32) {
  for (var t = 0u; t < tiles; t++) {
    let slot = t * 8u + lid;
    if (slot < p.kx4) {
      for (var r = 0u; r < p.rt; r++) {
        buf[r * p.kx4 + slot] = scr[sidx(select(p.scr_hp, p.scr_zp, fromZ), t, r, lid)];
      }
    }
  }
}

@compute @workgroup_size(8)
fn chain_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let wg = wid.y * nwg.x + wid.x;
  let row0 = wg * R;
  sbase = wg * p.scr_size;
  let C = p.c;
  let W = p.w;
  let K1 = 2u * C + 1u;
  let ctiles = (C + 31u) / 32u;
  let wtiles = (W + 31u) / 32u;
  let alignedRest = p.aligned != 0u;

  // c into the layer input (zero pads), Z_T into the lanes' private columns
  for (var t = 0u; t < ctiles; t++) {
    let j = t * 32u + lid * 4u;
    let slot = t * 8u + lid;
    for (var r = 0u; r < p.rt; r++) {
      let row = min(row0 + r, p.rows - 1u);
      var cv: vec4f;
      var zv: vec4f;
      for (var q = 0u; q < 4u; q++) {
        let i = row * C + min(j + q, C - 1u);
        let inside = j + q < C;
        cv[q] = select(0.0, cond[i], inside);
        var z: f32;
        if (p.draw != 0u) { z = normal_at(i); } else { z = zt[i]; }
        zv[q] = select(0.0, z, inside);
      }
      if (slot < p.kx4) { buf[r * p.kx4 + slot] = cv; }
      scr[sidx(p.scr_zp, t, r, lid)] = zv;
    }
  }
  workgroupBarrier();

  // jobs: 0 the first layer's constant part (kind 3); then per step the first layer (kind 0),
  // the hidden layers (kind 1) and the output layer with the update (kind 2)
  let perStep = p.nh + 2u;
  let jobs = 1u + p.steps * perStep;
  for (var job = 0u; job < jobs; job++) {
    var kind = 3u;
    var step = 0u;
    var layer = 0u;
    if (job > 0u) {
      step = p.steps - (job - 1u) / perStep;
      layer = (job - 1u) % perStep;
      kind = select(select(1u, 2u, layer == perStep - 1u), 0u, layer == 0u);
    }
    let cf = p.coef[max(step, 1u) - 1u];
    var K = W;
    var wBase = 0u;
    var wStride = W;
    var aligned = alignedRest;
    var jmax = W;
    var bOff = 0u;
    switch kind {
      case 3u: { K = C; wBase = p.o_w1 + C + 1u; wStride = K1; aligned = false; bOff = p.o_b1; }
      case 0u: { K = C; wBase = p.o_w1; wStride = K1; aligned = false; }
      case 1u: { wBase = p.o_wh + (layer - 1u) * W * W; bOff = p.o_bh + (layer - 1u) * W; }
      default: { wBase = p.o_w2; jmax = C; bOff = p.o_b2; }
    }
    let tiles = (jmax + 31u) / 32u;
    for (var t = 0u; t < tiles; t++) {
      let j = t * 32u + lid * 4u;
      dense(p.kx4, K, wBase, wStride, aligned, j, jmax, lid);
      let inside = vec4<bool>(j < jmax, j + 1u < jmax, j + 2u < jmax, j + 3u < jmax);
      if (kind == 3u) {
        let bv = vals4(bOff, 1u, j, jmax);
        for (var r = 0u; r < p.rt; r++) { scr[sidx(p.scr_pp, t, r, lid)] = scr[sbase + r * 8u + lid] + bv; }
      } else if (kind == 2u) {
        let bv = vals4(bOff, 1u, j, jmax);
        for (var r = 0u; r < p.rt; r++) {
          let zi = sidx(p.scr_zp, t, r, lid);
          // columns past C stay 0: they are the zero pads of Z_t in the layer input
          scr[zi] = select(vec4f(0.0), cf.x * scr[zi] + cf.y * (scr[sbase + r * 8u + lid] + bv), inside);
        }
      } else {
        // first layer: the constant part and the time column W₁[:, C]·t/(10T); hidden: bias
        var add: vec4f;
        if (kind == 0u) { add = vals4(p.o_w1 + C, K1, j, jmax) * cf.z; } else { add = vals4(bOff, 1u, j, jmax); }
        for (var r = 0u; r < p.rt; r++) {
          var v = scr[sbase + r * 8u + lid] + add;
          if (kind == 0u) { v = v + scr[sidx(p.scr_pp, t, r, lid)]; }
          scr[sidx(p.scr_hp, t, r, lid)] = select(vec4f(0.0), leaky4(v), inside);
        }
      }
    }
    workgroupBarrier();
    let fromZ = kind >= 2u;
    store_input(fromZ, select(wtiles, ctiles, fromZ), lid);
    workgroupBarrier();
  }

  for (var t = 0u; t < ctiles; t++) {
    let j = t * 32u + lid * 4u;
    for (var r = 0u; r < p.rt; r++) {
      let row = row0 + r;
      let v = scr[sidx(p.scr_zp, t, r, lid)];
      for (var q = 0u; q < 4u; q++) {
        if (row < p.rows && j + q < C) { out[row * C + j + q] = v[q]; }
      }
    }
  }
}
