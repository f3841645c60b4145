// Windowed (cross-)attention with a Swin relative-position bias, flash-attention style.
//
// P = B · nWin · heads independent problems ("windows"); each holds M query rows (q), M key
// rows (k) and M value rows (v) of d = HD channels, addressed through strides so that both
// the head-major layout [B, heads, nWin, M, d] and the token-major layout [B, nWin, M, heads·d]
// work without a copy: element (b, w, h, token i, channel c) sits at
//   b·sb + w·sw + h·sh + i·st + c.
// Problem p is (bw = b·nWin + w, h) with p = bw · heads + h.
//
//   s_ij = (scale · q_i) · k_j + table[rel(i, j) · heads + h]     (the bias only with flag 1)
//   out_i = Σ_j softmax_j(s_ij) v_j,   lse_i = log Σ_j exp(s_ij)
//   rel(i, j) = (yi − yj + w − 1)·(2w − 1) + (xi − xj + w − 1), i = yi·w + xi (Swin)
//
// forward   one invocation per R query rows (lanes over rows; K and V rows are read at
//           addresses that depend only on the workgroup: one load, broadcast to the lanes).
//           Online softmax over blocks of KB keys: a running max and sum per row, the
//           accumulator rescaled once per block. Writes out and lse; no M×M matrix is stored.
// bwd_q     lanes over query rows: Δ_i = dO_i · O_i (stored for bwd_kv), then for every key
//           p_ij = exp(s_ij − lse_i), dp_ij = dO_i · v_j, ds_ij = p_ij (dp_ij − Δ_i),
//           dq_i = scale · Σ_j ds_ij k_j; with flag 2 also stores ds_ij (for the bias gradient)
//           for the problems of this dispatch (a chunk starting at problem p0).
// bwd_kv    lanes over key rows: for every query, the same p_ij and ds_ij;
//           dv_j = Σ_i p_ij dO_i, dk_j = Σ_i ds_ij (scale · q_i).
// bwd_bias  one invocation per (table entry t, head h, split s): sums ds over the windows (or,
//           from the subgroup kernels, the window groups) of split s and, inside each, over the
//           (i, j) pairs with rel(i, j) = t (in closed form),
//           in a fixed order (deterministic; no atomics). Consecutive invocations are
//           consecutive splits of the same entry, so lanes run the same trip counts.
// bwd_bias_sum  one invocation per (t, h): the splits' partial sums in order.
//
// On CPU adapters (lavapipe) a workgroup is a SIMD loop over 8-lane groups: every per-lane
// buffer load is a gather, so each value is loaded once and kept in registers; no workgroup
// memory and no barriers are used.
override HD: u32 = 32u;  // head width d (≤ DMAX)
override R: u32 = 1u;    // rows per invocation (≤ RMAX)
override WGS: u32 = 8u;  // invocations per workgroup

const DMAX: u32 = 128u;
const RMAX: u32 = 4u;
const KB: u32 = 7u;      // keys per online-softmax step (49 and 196 tokens split evenly)
const BIG: f32 = 3.0e38;
const BIAS_WG: u32 = 64u;

// #include "window_attention_common.wgsl"

// [P, M] Δ_i = dO_i · O_i
@group(0) @binding(12) var<storage, read_write> delta: array<f32>;
// [problems of the chunk, M, M] ds
@group(0) @binding(13) var<storage, read_write> dsb: array<f32>;
// [entries, totalSplits] partial bias gradients; [entries] the table's gradient
@group(0) @binding(14) var<storage, read_write> part: array<f32>;
@group(0) @binding(15) var<storage, read_write> dtbl: array<f32>;

fn problemOf(wid: vec3u, nwg: vec3u) -> vec2u {
  let g = wid.y * nwg.x + wid.x;
  return vec2u(g / u.tiles, g % u.tiles);
}

// ---------------------------------------------------------------- forward

@compute @workgroup_size(WGS)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wid.y * nwg.x + wid.x >= u.problems * u.tiles) { return; }
  let pt = problemOf(wid, nwg);
  let p = pt.x;
  let M = u.m;
  let base = problemBase(p);
  let h = p % u.heads;
  let bias = (u.flags & 1u) != 0u;
  var q = array<array<f32, DMAX>, RMAX>();
  var acc = array<array<f32, DMAX>, RMAX>();
  var rq = array<u32, RMAX>();
  var mx = array<f32, RMAX>();
  var l = array<f32, RMAX>();
  for (var r = 0u; r < R; r++) {
    let i = min((pt.y * R + r) * WGS + lid, M - 1u);
    let o = base + i * u.st;
    for (var c = 0u; c < HD; c++) { q[r][c] = qb[o + c] * u.scale; }
    rq[r] = relQuery(i);
    mx[r] = -BIG;
  }
  for (var j0 = 0u; j0 < M; j0 += KB) {
    var s = array<array<f32, KB>, RMAX>();
    for (var jj = 0u; jj < KB; jj++) {
      let j = min(j0 + jj, M - 1u);
      let ko = base + j * u.st;
      for (var c = 0u; c < HD; c++) {
        let kc = kb[ko + c];
        for (var r = 0u; r < R; r++) { s[r][jj] = fma(q[r][c], kc, s[r][jj]); }
      }
      if (bias) {
        let rk = relKey(j);
        for (var r = 0u; r < R; r++) { s[r][jj] += tbl[(rq[r] - rk) * u.heads + h]; }
      }
      if (j0 + jj >= M) {
        for (var r = 0u; r < R; r++) { s[r][jj] = -BIG; }
      }
    }
    for (var r = 0u; r < R; r++) {
      var mb = mx[r];
      for (var jj = 0u; jj < KB; jj++) { mb = max(mb, s[r][jj]); }
      let corr = exp(mx[r] - mb);
      mx[r] = mb;
      var total = l[r] * corr;
      for (var jj = 0u; jj < KB; jj++) {
        let e = exp(s[r][jj] - mb);
        s[r][jj] = e;
        total += e;
      }
      l[r] = total;
      for (var c = 0u; c < HD; c++) { acc[r][c] *= corr; }
    }
    for (var jj = 0u; jj < KB; jj++) {
      let vo = base + min(j0 + jj, M - 1u) * u.st;
      for (var c = 0u; c < HD; c++) {
        let vc = vb[vo + c];
        for (var r = 0u; r < R; r++) { acc[r][c] = fma(s[r][jj], vc, acc[r][c]); }
      }
    }
  }
  for (var r = 0u; r < R; r++) {
    let i = (pt.y * R + r) * WGS + lid;
    if (i < M) {
      let o = base + i * u.st;
      let inv = 1.0 / l[r];
      for (var c = 0u; c < HD; c++) { ob[o + c] = acc[r][c] * inv; }
      lse[p * M + i] = mx[r] + log(l[r]);
    }
  }
}

// ---------------------------------------------------------------- backward

// grid: problems of the chunk × row tiles; p = u.p0 + local problem
@compute @workgroup_size(WGS)
fn bwd_q(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wid.y * nwg.x + wid.x >= u.problems * u.tiles) { return; }
  let pt = problemOf(wid, nwg);
  let pl = pt.x;
  let p = u.p0 + pl;
  let M = u.m;
  let base = problemBase(p);
  let h = p % u.heads;
  let bias = (u.flags & 1u) != 0u;
  let storeDs = (u.flags & 2u) != 0u;
  var q = array<array<f32, DMAX>, RMAX>();
  var go = array<array<f32, DMAX>, RMAX>();
  var dq = array<array<f32, DMAX>, RMAX>();
  var rq = array<u32, RMAX>();
  var lr = array<f32, RMAX>();
  var dl = array<f32, RMAX>();
  var rows = array<u32, RMAX>();
  for (var r = 0u; r < R; r++) {
    let i = (pt.y * R + r) * WGS + lid;
    rows[r] = i;
    let ic = min(i, M - 1u);
    let o = base + ic * u.st;
    var dd = 0.0;
    for (var c = 0u; c < HD; c++) {
      q[r][c] = qb[o + c] * u.scale;
      go[r][c] = gob[o + c];
      dd = fma(go[r][c], fob[o + c], dd);
    }
    dl[r] = dd;
    lr[r] = lse[p * M + ic];
    rq[r] = relQuery(ic);
    if (i < M) { delta[p * M + i] = dd; }
  }
  for (var j = 0u; j < M; j++) {
    let ko = base + j * u.st;
    var kr = array<f32, DMAX>();
    var s = array<f32, RMAX>();
    var dp = array<f32, RMAX>();
    for (var c = 0u; c < HD; c++) {
      kr[c] = kb[ko + c];
      let vc = vb[ko + c];
      for (var r = 0u; r < R; r++) {
        s[r] = fma(q[r][c], kr[c], s[r]);
        dp[r] = fma(go[r][c], vc, dp[r]);
      }
    }
    var rk = 0u;
    if (bias) { rk = relKey(j); }
    for (var r = 0u; r < R; r++) {
      var sr = s[r];
      if (bias) { sr += tbl[(rq[r] - rk) * u.heads + h]; }
      let ds = exp(sr - lr[r]) * (dp[r] - dl[r]);
      for (var c = 0u; c < HD; c++) { dq[r][c] = fma(ds, kr[c], dq[r][c]); }
      if (storeDs && rows[r] < M) { dsb[(pl * M + rows[r]) * M + j] = ds; }
    }
  }
  for (var r = 0u; r < R; r++) {
    if (rows[r] < M) {
      let o = base + rows[r] * u.st;
      for (var c = 0u; c < HD; c++) { dqb[o + c] = dq[r][c] * u.scale; }
    }
  }
}

// grid: problems × key-row tiles
@compute @workgroup_size(WGS)
fn bwd_kv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wid.y * nwg.x + wid.x >= u.problems * u.tiles) { return; }
  let pt = problemOf(wid, nwg);
  let p = pt.x;
  let M = u.m;
  let base = problemBase(p);
  let h = p % u.heads;
  let bias = (u.flags & 1u) != 0u;
  var k = array<array<f32, DMAX>, RMAX>();
  var v = array<array<f32, DMAX>, RMAX>();
  var dk = array<array<f32, DMAX>, RMAX>();
  var dv = array<array<f32, DMAX>, RMAX>();
  var rk = array<u32, RMAX>();
  for (var r = 0u; r < R; r++) {
    let j = min((pt.y * R + r) * WGS + lid, M - 1u);
    let o = base + j * u.st;
    for (var c = 0u; c < HD; c++) {
      k[r][c] = kb[o + c];
      v[r][c] = vb[o + c];
    }
    rk[r] = relKey(j);
  }
  for (var i = 0u; i < M; i++) {
    let qo = base + i * u.st;
    var qi = array<f32, DMAX>();
    var gi = array<f32, DMAX>();
    var s = array<f32, RMAX>();
    var dp = array<f32, RMAX>();
    for (var c = 0u; c < HD; c++) {
      qi[c] = qb[qo + c] * u.scale;
      gi[c] = gob[qo + c];
      for (var r = 0u; r < R; r++) {
        s[r] = fma(qi[c], k[r][c], s[r]);
        dp[r] = fma(gi[c], v[r][c], dp[r]);
      }
    }
    let li = lse[p * M + i];
    let di = delta[p * M + i];
    var rqi = 0u;
    if (bias) { rqi = relQuery(i); }
    for (var r = 0u; r < R; r++) {
      var sr = s[r];
      if (bias) { sr += tbl[(rqi - rk[r]) * u.heads + h]; }
      let pr = exp(sr - li);
      let ds = pr * (dp[r] - di);
      for (var c = 0u; c < HD; c++) {
        dv[r][c] = fma(pr, gi[c], dv[r][c]);
        dk[r][c] = fma(ds, qi[c], dk[r][c]);
      }
    }
  }
  for (var r = 0u; r < R; r++) {
    let j = (pt.y * R + r) * WGS + lid;
    if (j < M) {
      let o = base + j * u.st;
      for (var c = 0u; c < HD; c++) {
        dkb[o + c] = dk[r][c];
        dvb[o + c] = dv[r][c];
      }
    }
  }
}

// one invocation per (entry = t · heads + h, split of this dispatch); 1-D folded grid
@compute @workgroup_size(BIAS_WG)
fn bwd_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * BIAS_WG + lid;
  if (g >= u.entries * u.splits) { return; }
  let e = g / u.splits;
  let sg = u.s0 + g % u.splits;
  let heads = u.heads;
  let t = e / heads;
  let h = e % heads;
  let w = u.w;
  let M = u.m;
  let side = 2u * w - 1u;
  // offsets dy = yi − yj and dx = xi − xj, stored shifted by w − 1
  let dy = t / side;
  let dx = t % side;
  // yj runs over [max(0, w−1−dy), min(w, 2w−1−dy)), yi = yj + dy − (w − 1); the same for x
  let y0 = select(0u, w - 1u - dy, dy < w - 1u);
  let y1 = min(w, side - dy);
  let x0 = select(0u, w - 1u - dx, dx < w - 1u);
  let x1 = min(w, side - dx);
  let bw0 = sg * u.per;
  let bw1 = min(bw0 + u.per, u.bwTotal);
  // ds holds the problems from u.p0 on
  let chunkBw = u.p0 / heads;
  var acc = 0.0;
  for (var bw = bw0; bw < bw1; bw++) {
    let pbase = ((bw - chunkBw) * heads + h) * M * M;
    for (var yj = y0; yj < y1; yj++) {
      let yi = yj + dy + 1u - w;
      for (var xj = x0; xj < x1; xj++) {
        let xi = xj + dx + 1u - w;
        acc += dsb[pbase + (yi * w + xi) * M + yj * w + xj];
      }
    }
  }
  part[e * u.totalSplits + sg] = acc;
}

// one invocation per entry: the splits in order
@compute @workgroup_size(BIAS_WG)
fn bwd_bias_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * BIAS_WG + lid;
  if (e >= u.entries) { return; }
  var acc = 0.0;
  for (var s = 0u; s < u.totalSplits; s++) { acc += part[e * u.totalSplits + s]; }
  dtbl[e] = acc;
}
