// Transposed channel attention (Restormer's MDTA core, LRDif's DMNet) over P = B·heads
// independent problems. Each problem holds q, k, v (and the gradient g) as c rows (channels)
// of n columns (pixels), row-major; problem after problem in a tensor of its own, or every
// image's q, k and v side by side in one packed tensor (blockOf places them):
//   q̂ = q / max(‖q‖, eps) per row (the same for k),  Ĝ = q̂ k̂ᵀ (c×c),
//   A = softmax_rows(temperature[h] · Ĝ),              out = A v.
//
// Forward:  `gram` (norms)  partial q·kᵀ and partial squared row norms over a chunk of columns
//           `attn_rows`     sums the partials in a fixed order (deterministic), scales by the
//                           norms → Ĝ, softmax → A, and stores the norms (all small)
//           `mix`           out = A v
// Backward (incoming gradient g):
//           `gram`          partial g·vᵀ = dA
//           `bwd_rows`      softmax backward dS = A ⊙ (dA − Σ_j dA ⊙ A); dĜ = t·dS;
//                           W = diag(1/‖q‖) dĜ diag(1/‖k‖); γq = Σ_j dĜ ⊙ Ĝ / ‖q‖²;
//                           per-row Σ_j dS ⊙ Ĝ for dtemperature
//           `bwd_cols`      γk = Σ_i dĜ ⊙ Ĝ / ‖k‖²
//           `bwd_temp`      dtemperature[h] = Σ over batch and rows
//           `mix`           dv = Aᵀ g,  dq = W k,  dk = Wᵀ q
//           `diag_sub`      dq −= γq ⊙ q,  dk −= γk ⊙ k (per row)
// (the normalisation backward dx = (dx̂ − x̂ (x̂·dx̂)) / ‖x‖ folded into the small matrices:
//  x̂·dx̂ per row is Σ_j dĜ ⊙ Ĝ, so no big tensor is normalised or stored). Rows with
//  ‖x‖ < eps are divided by eps: their γ is 0.
//
// `gram` and `mix` here are the portable versions (any adapter); adapters with subgroups of
// at least 8 invocations run the ones in channel_attention_sg.wgsl, which share loads across
// lanes with subgroupBroadcast. Here one operand of every product is read at addresses that
// depend only on the workgroup (every lane reads the same value: one cache line on a GPU; on
// lavapipe each lane still makes its own load inside a loop) and each lane reuses the other
// operand for many multiply-adds.
// `gram`: a workgroup owns TI rows of `a` (shared) and WGS·RJ rows of `b` (RJ per lane),
//         walking its chunk of columns 4 at a time.
// `mix`:  a workgroup owns TM output rows (the c×c matrix entries are shared); each lane owns
//         RN groups of 4 consecutive columns.
override WGS: u32 = 8u;       // invocations per workgroup (gram, mix)
// #include "channel_attention_common.wgsl"

const TI: u32 = 8u;
const RJ: u32 = 2u;
const TM: u32 = 16u;
const RN: u32 = 2u;
const BIG: f32 = 3.0e38;

@group(0) @binding(7) var<storage, read> temp: array<f32>;
// [P, c, c] attention, [P, c, c] Ĝ, [P, 2, c] row norms of q and k
@group(0) @binding(8) var<storage, read_write> attn: array<f32>;
@group(0) @binding(9) var<storage, read_write> ghat: array<f32>;
@group(0) @binding(10) var<storage, read_write> nrm: array<f32>;
@group(0) @binding(12) var<storage, read> dvec: array<f32>;
// backward: W [P, c, c], γq and γk [P, c], per-row dtemperature terms [P, c], dtemperature [heads]
@group(0) @binding(15) var<storage, read_write> wmat: array<f32>;
@group(0) @binding(16) var<storage, read_write> gq: array<f32>;
@group(0) @binding(17) var<storage, read_write> gk: array<f32>;
@group(0) @binding(18) var<storage, read_write> dtrow: array<f32>;
@group(0) @binding(19) var<storage, read_write> dtemp: array<f32>;

// ---------------------------------------------------------------- gram

struct GramAcc {
  acc: array<array<f32, RJ>, TI>,
  na: array<f32, TI>,
  nb: array<f32, RJ>,
}

// One step of 4 columns: av are the TI shared rows of a, bv the lane's RJ rows of b.
fn gramStep(s: ptr<function, GramAcc>, av: array<vec4f, TI>, bv: array<vec4f, RJ>, normA: bool, normB: bool) {
  for (var r = 0u; r < RJ; r++) {
    if (normB) { (*s).nb[r] += dot(bv[r], bv[r]); }
  }
  for (var i = 0u; i < TI; i++) {
    if (normA) { (*s).na[i] += dot(av[i], av[i]); }
    for (var r = 0u; r < RJ; r++) {
      (*s).acc[i][r] += dot(av[i], bv[r]);
    }
  }
}

// grid: x = tilesI · tilesJ, (y, z) = problem · splits + split (folded)
@compute @workgroup_size(WGS)
fn gram(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ps = wid.z * nwg.y + wid.y;
  if (ps >= p.problems * p.splits) { return; }
  let c = p.c;
  let N = p.n;
  let prob = ps / p.splits;
  let split = ps % p.splits;
  let ti = wid.x / p.tilesJ;
  let tj = wid.x % p.tilesJ;
  let i0 = ti * TI;
  let j0 = tj * WGS * RJ + lid;
  let baseA = blockOf(prob, p.sa, p.oa);
  let baseB = blockOf(prob, p.sb, p.ob);
  var rowA: array<u32, TI>;
  for (var i = 0u; i < TI; i++) { rowA[i] = baseA + min(i0 + i, c - 1u) * N; }
  var rowB: array<u32, RJ>;
  for (var r = 0u; r < RJ; r++) { rowB[r] = baseB + min(j0 + r * WGS, c - 1u) * N; }
  let n0 = split * p.chunk;
  let n1 = min(n0 + p.chunk, N);
  // a's norms come from the first column of tiles only (the others would repeat them)
  let normB = flag(NORMS);
  let normA = normB && tj == 0u;
  var s: GramAcc;
  // steps of 4 columns; without VEC the loads are masked, so the last step may be short
  for (var k = n0; k < n1; k += 4u) {
    var bv: array<vec4f, RJ>;
    var av: array<vec4f, TI>;
    if (VEC) {
      for (var r = 0u; r < RJ; r++) { bv[r] = b4[(rowB[r] + k) / 4u]; }
      for (var i = 0u; i < TI; i++) { av[i] = a4[(rowA[i] + k) / 4u]; }
    } else {
      for (var r = 0u; r < RJ; r++) { bv[r] = loadB4(rowB[r], k, n1); }
      for (var i = 0u; i < TI; i++) { av[i] = loadA4(rowA[i], k, n1); }
    }
    gramStep(&s, av, bv, normA, normB);
  }
  let outBase = ps * c * c;
  for (var r = 0u; r < RJ; r++) {
    let j = j0 + r * WGS;
    if (j < c) {
      for (var i = 0u; i < TI; i++) {
        if (i0 + i < c) { part[outBase + (i0 + i) * c + j] = s.acc[i][r]; }
      }
      if (normB && ti == 0u) { npart[(ps * 2u + 1u) * c + j] = s.nb[r]; }
    }
  }
  if (normA && lid == 0u) {
    for (var i = 0u; i < TI; i++) {
      if (i0 + i < c) { npart[ps * 2u * c + i0 + i] = s.na[i]; }
    }
  }
}

// ---------------------------------------------------------------- attn

fn clampedNorm(sq: f32) -> f32 {
  return max(sqrt(sq), p.eps);
}

// one invocation per (problem, row i); 1-D grid of 64-invocation workgroups, folded
@compute @workgroup_size(64)
fn attn_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;
  let c = p.c;
  if (row >= p.problems * c) { return; }
  let prob = row / c;
  let i = row % c;
  let S = p.splits;
  var sa = 0.0;
  var sb = 0.0;
  for (var s = 0u; s < S; s++) {
    sa += npart[((prob * S + s) * 2u) * c + i];
    sb += npart[((prob * S + s) * 2u + 1u) * c + i];
  }
  nrm[prob * 2u * c + i] = sqrt(sa);
  nrm[(prob * 2u + 1u) * c + i] = sqrt(sb);
  let rq = 1.0 / clampedNorm(sa);
  let t = temp[prob % p.heads];
  let rowOff = (prob * c + i) * c;
  var m = -BIG;
  for (var j = 0u; j < c; j++) {
    var g = 0.0;
    var nk = 0.0;
    for (var s = 0u; s < S; s++) {
      g += part[((prob * S + s) * c + i) * c + j];
      nk += npart[((prob * S + s) * 2u + 1u) * c + j];
    }
    let gh = g * rq / clampedNorm(nk);
    ghat[rowOff + j] = gh;
    m = max(m, t * gh);
  }
  var total = 0.0;
  for (var j = 0u; j < c; j++) {
    total += exp(t * ghat[rowOff + j] - m);
  }
  let inv = 1.0 / total;
  for (var j = 0u; j < c; j++) {
    attn[rowOff + j] = exp(t * ghat[rowOff + j] - m) * inv;
  }
}

// ---------------------------------------------------------------- mix

struct MixTile {
  acc: array<array<vec4f, RN>, TM>,
  // the problem's first element in x and in the output
  base: u32,
  obase: u32,
  i0: u32,
  col0: u32,
}

// grid: x = row tiles · colGroups, (y, z) = problem (folded)
fn mixTile(wid: vec3u, nwg: vec3u, lid: u32) -> MixTile {
  var t: MixTile;
  let prob = wid.z * nwg.y + wid.y;
  let c = p.c;
  let N = p.n;
  let tileI = wid.x / p.colGroups;
  let cg = wid.x % p.colGroups;
  t.i0 = tileI * TM;
  t.col0 = (cg * WGS + lid) * 4u * RN;
  t.base = blockOf(prob, p.sa, p.oa);
  t.obase = blockOf(prob, p.so, p.oo);
  let mBase = prob * c * c;
  // strides of M along the output row and along j
  let rs = select(c, 1u, flag(TRANS));
  let js = select(1u, c, flag(TRANS));
  var rows: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(t.i0 + i, c - 1u); }
  for (var j = 0u; j < c; j++) {
    var xv: array<vec4f, RN>;
    for (var r = 0u; r < RN; r++) { xv[r] = loadX4(t.base, j, t.col0 + r * 4u); }
    for (var i = 0u; i < TM; i++) {
      let m = mat[mBase + rows[i] * rs + j * js];
      for (var r = 0u; r < RN; r++) {
        t.acc[i][r] = fma(vec4f(m), xv[r], t.acc[i][r]);
      }
    }
  }
  return t;
}

@compute @workgroup_size(WGS)
fn mix(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wid.z * nwg.y + wid.y >= p.problems) { return; }
  let t = mixTile(wid, nwg, lid);
  let c = p.c;
  let N = p.n;
  for (var i = 0u; i < TM; i++) {
    if (t.i0 + i < c) {
      let o = t.obase + (t.i0 + i) * N;
      for (var r = 0u; r < RN; r++) {
        let col = t.col0 + r * 4u;
        for (var q = 0u; q < 4u; q++) {
          if (col + q < N) { out[o + col + q] = t.acc[i][r][q]; }
        }
      }
    }
  }
}

@compute @workgroup_size(WGS)
fn mix_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wid.z * nwg.y + wid.y >= p.problems) { return; }
  let t = mixTile(wid, nwg, lid);
  let c = p.c;
  let N = p.n;
  for (var i = 0u; i < TM; i++) {
    if (t.i0 + i < c) {
      let o = (t.obase + (t.i0 + i) * N) / 4u;
      for (var r = 0u; r < RN; r++) {
        let col = t.col0 + r * 4u;
        if (col < N) { out4[o + col / 4u] = t.acc[i][r]; }
      }
    }
  }
}

// ---------------------------------------------------------------- backward (small matrices)

// one invocation per (problem, row i): part holds the partial dA = g vᵀ
@compute @workgroup_size(64)
fn bwd_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;
  let c = p.c;
  if (row >= p.problems * c) { return; }
  let prob = row / c;
  let i = row % c;
  let S = p.splits;
  let t = temp[prob % p.heads];
  let rowOff = (prob * c + i) * c;
  // dA row (kept in wmat until it is overwritten with W) and σ = Σ_j dA ⊙ A
  var sigma = 0.0;
  for (var j = 0u; j < c; j++) {
    var g = 0.0;
    for (var s = 0u; s < S; s++) { g += part[((prob * S + s) * c + i) * c + j]; }
    wmat[rowOff + j] = g;
    sigma += g * attn[rowOff + j];
  }
  let nq = nrm[prob * 2u * c + i];
  let rq = 1.0 / max(nq, p.eps);
  let kBase = (prob * 2u + 1u) * c;
  var dt = 0.0;
  for (var j = 0u; j < c; j++) {
    let ds = attn[rowOff + j] * (wmat[rowOff + j] - sigma);
    dt += ds * ghat[rowOff + j];
    wmat[rowOff + j] = rq * t * ds / max(nrm[kBase + j], p.eps);
  }
  dtrow[row] = dt;
  // x̂·dx̂ = Σ_j dĜ ⊙ Ĝ = t · dt; no projection where the norm was clamped
  gq[row] = select(0.0, rq * rq * t * dt, nq >= p.eps);
}

// one invocation per (problem, column j): γk_j = Σ_i dĜ ⊙ Ĝ / ‖k_j‖², with dĜ_ij = W_ij ‖q_i‖ ‖k_j‖
@compute @workgroup_size(64)
fn bwd_cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let col = (wid.y * nwg.x + wid.x) * 64u + lid;
  let c = p.c;
  if (col >= p.problems * c) { return; }
  let prob = col / c;
  let j = col % c;
  var acc = 0.0;
  for (var i = 0u; i < c; i++) {
    let e = (prob * c + i) * c + j;
    acc += wmat[e] * max(nrm[prob * 2u * c + i], p.eps) * ghat[e];
  }
  let nk = nrm[(prob * 2u + 1u) * c + j];
  gk[col] = select(0.0, acc / max(nk, p.eps), nk >= p.eps);
}

// one invocation per head: Σ over the batch and the rows, in a fixed order
@compute @workgroup_size(64)
fn bwd_temp(@builtin(global_invocation_id) gid: vec3u) {
  let h = gid.x;
  if (h >= p.heads) { return; }
  let batch = p.problems / p.heads;
  var acc = 0.0;
  for (var bi = 0u; bi < batch; bi++) {
    let prob = bi * p.heads + h;
    for (var i = 0u; i < p.c; i++) { acc += dtrow[prob * p.c + i]; }
  }
  dtemp[h] = acc;
}

// out −= d[row] · y over the problems · c rows of n (the diagonal term of dq and dk; y is
// operand b); 4 consecutive elements of a row per invocation (⌈n/4⌉ per row), 1-D grid of
// 64-invocation workgroups, folded
@compute @workgroup_size(64)
fn diag_sub(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let id = (wid.y * nwg.x + wid.x) * 64u + lid;
  let quads = (p.n + 3u) / 4u;
  let row = id / quads;
  if (row >= p.problems * p.c) { return; }
  let col = (id - row * quads) * 4u;
  let prob = row / p.c;
  let i = row - prob * p.c;
  let eo = blockOf(prob, p.so, p.oo) + i * p.n;
  let ey = blockOf(prob, p.sb, p.ob) + i * p.n;
  let d = dvec[row];
  for (var q = 0u; q < 4u; q++) {
    if (col + q < p.n) { out[eo + col + q] -= d * b[ey + col + q]; }
  }
}
