// Subgroup kernels of the window attention (shaders/window_attention.wgsl describes the
// operation, the layouts and the buffers), for adapters with subgroups of at least 8
// invocations. A workgroup is 8 invocations, one subgroup.
//
// Built for lavapipe, where a workgroup runs as a loop over 8 SIMD lanes. Measured there:
// - every load or store inside a loop is a per-lane scalar loop with a bounds check, even when
//   all lanes read the same address: the cost is the number of loads per lane;
// - subgroupBroadcast with a constant lane is a register permute (nearly free), while
//   subgroupShuffle with a run-time lane and subgroupMax/subgroupAdd are serial per-lane code;
// - a loop is unrolled only when its whole body is small (about 800 NIR instructions); an array
//   indexed by a loop that stays a loop lives on the stack and every access becomes 8 scalar
//   moves. So the tiles below are indexed only by constants: the partner loops are spelled out
//   as 7 calls of 8-partner helpers, and so are the per-row loops (G = 7 rows).
//
// Every kernel gives each lane G = 7 "own" tokens (rows l, l+8, ..., l+48 of a tile of 56) and
// walks the partner tokens in blocks of KB = 56 (lane L loads partners L, L+8, ..., L+48); a
// partner's 4 channels reach the other lanes by subgroupBroadcast, and everything per row (max,
// exp, sum) stays inside a lane. Each loaded value feeds 8·7 multiply-adds. 49 and 196 tokens
// (7×7 and 14×14 windows) fill the tiles exactly.
//
// A workgroup owns one head, one tile of own tokens and a group of `per` consecutive windows
// (bw = b·nWin + w). Blocks of partners are the outer loop and windows the inner one, so the
// relative-position bias of a (tile, block) is gathered once into `bc` and reused by every
// window of the group (and the bias gradient is summed over the group).
//
// forward (own: queries; partners: keys). Per window and block: S = bias + (scale·Q)·Kᵀ;
//   online softmax per row (the running max and sum of earlier blocks come back from lse and
//   lsum, the partial output from out); O = corr·O + P·V, divided by the sum after the last
//   block; lse = max + log(sum). No score matrix leaves the registers.
// bwd_kv (own: keys; partners: queries). Recomputes S and dP = dO·Vᵀ, Δ = dO·O of the
//   partner queries, P = exp(S − lse) and ds = P (dP − Δ); dV = Pᵀ·dO, dK = dsᵀ·(scale·Q)
//   (added over blocks); stores ds [windows of the chunk, heads, M, M] for bwd_dq and, with
//   flag 2, the ds of the group summed over its windows in `dbp` [group, head, M, M] for the
//   bias-table gradient (window_attention.wgsl `bwd_bias` sums it per table entry).
// bwd_dq (own: queries; partners: keys). dQ = scale · ds·K from the stored ds.
// The backward works on chunks of windows (p0 = the first window of the chunk) so that ds stays
// under the storage binding limit.
enable subgroups;

const G: u32 = 7u;      // own tokens per lane
const KV: u32 = 7u;     // partner tokens per lane and block
const KB: u32 = 56u;    // partners per block (8 · KV) = own tokens per tile (8 · G)
const BIG: f32 = 3.0e38;

// #include "window_attention_common.wgsl"

// backward: ds [windows of the chunk, heads, M (query), M (key)]
@group(0) @binding(13) var<storage, read_write> dsb: array<f32>;
// forward: running sums of the rows between blocks (M > KB only)
@group(0) @binding(16) var<storage, read_write> lsum: array<f32>;
// bwd_kv: [groups, heads, M, M] ds summed over each group's windows
@group(0) @binding(17) var<storage, read_write> dbp: array<f32>;

// Channels c..c+3 of a token row at element offset o; channels ≥ d read as 0.
fn ldQ(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, qb[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}
fn ldK(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, kb[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}
fn ldV(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, vb[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}
fn ldGO(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, gob[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}
fn ldFO(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, fob[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}

// Stores channels c..c+3 of a token row (channels ≥ d are not stored); loads them back
// (channels ≥ d read as 0). One function per buffer, so each entry binds only what it uses.
fn stO(o: u32, c: u32, y: vec4f) {
  for (var e = 0u; e < 4u; e++) { if (c + e < u.d) { ob[o + c + e] = y[e]; } }
}
fn stDQ(o: u32, c: u32, y: vec4f) {
  for (var e = 0u; e < 4u; e++) { if (c + e < u.d) { dqb[o + c + e] = y[e]; } }
}
fn stDK(o: u32, c: u32, y: vec4f) {
  for (var e = 0u; e < 4u; e++) { if (c + e < u.d) { dkb[o + c + e] = y[e]; } }
}
fn stDV(o: u32, c: u32, y: vec4f) {
  for (var e = 0u; e < 4u; e++) { if (c + e < u.d) { dvb[o + c + e] = y[e]; } }
}
fn ldO(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, ob[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}
fn ldDQ(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, dqb[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}
fn ldDK(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, dkb[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}
fn ldDV(o: u32, c: u32) -> vec4f {
  var r: vec4f;
  for (var e = 0u; e < 4u; e++) { r[e] = select(0.0, dvb[o + min(c + e, u.d - 1u)], c + e < u.d); }
  return r;
}

// Bias of own token `own` (a query when ownQ) and partner `part`; -BIG for partners past M.
fn biasOf(own: u32, part: u32, h: u32, ownQ: bool) -> f32 {
  let M = u.m;
  if (part >= M) { return -BIG; }
  if ((u.flags & 1u) == 0u || own >= M) { return 0.0; }
  var i = own;
  var j = part;
  if (!ownQ) {
    i = part;
    j = own;
  }
  return tbl[(relQuery(i) - relKey(j)) * u.heads + h];
}

struct Tile {
  h: u32,
  tile: u32,
  bw0: u32,        // windows [bw0, bw1) of the chunk
  bw1: u32,
  ok: bool,
}

// grid: heads × tiles × groups of `per` windows (folded)
fn tileOf(wid: vec3u, nwg: vec3u) -> Tile {
  let gi = wid.y * nwg.x + wid.x;
  let groups = (u.bwTotal + u.per - 1u) / u.per;
  var t: Tile;
  t.ok = gi < u.heads * u.tiles * groups;
  t.h = gi % u.heads;
  let rest = gi / u.heads;
  t.tile = rest % u.tiles;
  t.bw0 = (rest / u.tiles) * u.per;
  t.bw1 = min(t.bw0 + u.per, u.bwTotal);
  return t;
}

// Problem of window bw (counted from the chunk's first window u.p0) and head h.
fn problemOf(bw: u32, h: u32) -> u32 {
  return (u.p0 + bw) * u.heads + h;
}

// ---------------------------------------------------------------- tile helpers
// s[g][j] is own token g against partner j; partner j = v·8 + L was loaded by lane L as p[v].

// s[g][j + L] += own[g] · (lane L's x) for the 8 partners j..j+7.
fn score8(s: ptr<function, array<array<f32, KB>, G> >, own: array<vec4f, G>, x: vec4f, j: u32) {
  var t = subgroupBroadcast(x, 0u);
  for (var g = 0u; g < G; g++) { (*s)[g][j] += dot(own[g], t); }
  t = subgroupBroadcast(x, 1u);
  for (var g = 0u; g < G; g++) { (*s)[g][j + 1u] += dot(own[g], t); }
  t = subgroupBroadcast(x, 2u);
  for (var g = 0u; g < G; g++) { (*s)[g][j + 2u] += dot(own[g], t); }
  t = subgroupBroadcast(x, 3u);
  for (var g = 0u; g < G; g++) { (*s)[g][j + 3u] += dot(own[g], t); }
  t = subgroupBroadcast(x, 4u);
  for (var g = 0u; g < G; g++) { (*s)[g][j + 4u] += dot(own[g], t); }
  t = subgroupBroadcast(x, 5u);
  for (var g = 0u; g < G; g++) { (*s)[g][j + 5u] += dot(own[g], t); }
  t = subgroupBroadcast(x, 6u);
  for (var g = 0u; g < G; g++) { (*s)[g][j + 6u] += dot(own[g], t); }
  t = subgroupBroadcast(x, 7u);
  for (var g = 0u; g < G; g++) { (*s)[g][j + 7u] += dot(own[g], t); }
}

fn scoreStep(s: ptr<function, array<array<f32, KB>, G> >, own: array<vec4f, G>, p: array<vec4f, KV>) {
  score8(s, own, p[0], 0u);
  score8(s, own, p[1], 8u);
  score8(s, own, p[2], 16u);
  score8(s, own, p[3], 24u);
  score8(s, own, p[4], 32u);
  score8(s, own, p[5], 40u);
  score8(s, own, p[6], 48u);
}

// acc[g] += c[g][j + L] · (lane L's x) for the 8 partners j..j+7.
fn mix8(acc: ptr<function, array<vec4f, G> >, c: ptr<function, array<array<f32, KB>, G> >, x: vec4f, j: u32) {
  var t = subgroupBroadcast(x, 0u);
  for (var g = 0u; g < G; g++) { (*acc)[g] = fma(vec4f((*c)[g][j]), t, (*acc)[g]); }
  t = subgroupBroadcast(x, 1u);
  for (var g = 0u; g < G; g++) { (*acc)[g] = fma(vec4f((*c)[g][j + 1u]), t, (*acc)[g]); }
  t = subgroupBroadcast(x, 2u);
  for (var g = 0u; g < G; g++) { (*acc)[g] = fma(vec4f((*c)[g][j + 2u]), t, (*acc)[g]); }
  t = subgroupBroadcast(x, 3u);
  for (var g = 0u; g < G; g++) { (*acc)[g] = fma(vec4f((*c)[g][j + 3u]), t, (*acc)[g]); }
  t = subgroupBroadcast(x, 4u);
  for (var g = 0u; g < G; g++) { (*acc)[g] = fma(vec4f((*c)[g][j + 4u]), t, (*acc)[g]); }
  t = subgroupBroadcast(x, 5u);
  for (var g = 0u; g < G; g++) { (*acc)[g] = fma(vec4f((*c)[g][j + 5u]), t, (*acc)[g]); }
  t = subgroupBroadcast(x, 6u);
  for (var g = 0u; g < G; g++) { (*acc)[g] = fma(vec4f((*c)[g][j + 6u]), t, (*acc)[g]); }
  t = subgroupBroadcast(x, 7u);
  for (var g = 0u; g < G; g++) { (*acc)[g] = fma(vec4f((*c)[g][j + 7u]), t, (*acc)[g]); }
}

fn mixStep(acc: ptr<function, array<vec4f, G> >, c: ptr<function, array<array<f32, KB>, G> >, p: array<vec4f, KV>) {
  mix8(acc, c, p[0], 0u);
  mix8(acc, c, p[1], 8u);
  mix8(acc, c, p[2], 16u);
  mix8(acc, c, p[3], 24u);
  mix8(acc, c, p[4], 32u);
  mix8(acc, c, p[5], 40u);
  mix8(acc, c, p[6], 48u);
}

// r[j + L] = lane L's x for the 8 partners j..j+7.
fn spread8(r: ptr<function, array<f32, KB> >, x: f32, j: u32) {
  (*r)[j] = subgroupBroadcast(x, 0u);
  (*r)[j + 1u] = subgroupBroadcast(x, 1u);
  (*r)[j + 2u] = subgroupBroadcast(x, 2u);
  (*r)[j + 3u] = subgroupBroadcast(x, 3u);
  (*r)[j + 4u] = subgroupBroadcast(x, 4u);
  (*r)[j + 5u] = subgroupBroadcast(x, 5u);
  (*r)[j + 6u] = subgroupBroadcast(x, 6u);
  (*r)[j + 7u] = subgroupBroadcast(x, 7u);
}

// Per partner, the value lane L loaded as x[v] for partner v·8 + L.
fn spread(x: array<f32, KV>) -> array<f32, KB> {
  var r: array<f32, KB>;
  spread8(&r, x[0], 0u);
  spread8(&r, x[1], 8u);
  spread8(&r, x[2], 16u);
  spread8(&r, x[3], 24u);
  spread8(&r, x[4], 32u);
  spread8(&r, x[5], 40u);
  spread8(&r, x[6], 48u);
  return r;
}

// s[g][·] = bias cache row g (own g, partner j at g·KB + j).
fn initRow(s: ptr<function, array<array<f32, KB>, G> >, bc: ptr<function, array<f32, G * KB> >, g: u32) {
  for (var j = 0u; j < KB; j++) { (*s)[g][j] = (*bc)[g * KB + j]; }
}

fn initTile(s: ptr<function, array<array<f32, KB>, G> >, bc: ptr<function, array<f32, G * KB> >) {
  initRow(s, bc, 0u);
  initRow(s, bc, 1u);
  initRow(s, bc, 2u);
  initRow(s, bc, 3u);
  initRow(s, bc, 4u);
  initRow(s, bc, 5u);
  initRow(s, bc, 6u);
}

// forward, one row: s[g][·] = exp(s − m) for the new running max m = max(mo, row max);
// returns (m, Σ exp).
fn softmaxRow(s: ptr<function, array<array<f32, KB>, G> >, g: u32, mo: f32) -> vec2f {
  var mb = mo;
  for (var j = 0u; j < KB; j++) { mb = max(mb, (*s)[g][j]); }
  var total = 0.0;
  for (var j = 0u; j < KB; j++) {
    let e = exp((*s)[g][j] - mb);
    (*s)[g][j] = e;
    total += e;
  }
  return vec2f(mb, total);
}

// bwd_q, one row: s[g][·] = ds = exp(s − lse) (dp − Δ).
fn dsRow(s: ptr<function, array<array<f32, KB>, G> >, dp: ptr<function, array<array<f32, KB>, G> >, g: u32, lg: f32, dl: f32) {
  for (var j = 0u; j < KB; j++) { (*s)[g][j] = exp((*s)[g][j] - lg) * ((*dp)[g][j] - dl); }
}

// bwd_kv, one row (own key g): s[g][·] = P = exp(s − lse_j), dp[g][·] = ds = P (dp − Δ_j).
fn dsCol(s: ptr<function, array<array<f32, KB>, G> >, dp: ptr<function, array<array<f32, KB>, G> >, g: u32, lr: ptr<function, array<f32, KB> >, dr: ptr<function, array<f32, KB> >) {
  for (var j = 0u; j < KB; j++) {
    let pr = exp((*s)[g][j] - (*lr)[j]);
    (*s)[g][j] = pr;
    (*dp)[g][j] = pr * ((*dp)[g][j] - (*dr)[j]);
  }
}

// buf (own g, partner j at g·KB + j) = dp[g][·], and back
fn saveRow(buf: ptr<function, array<f32, G * KB> >, dp: ptr<function, array<array<f32, KB>, G> >, g: u32) {
  for (var j = 0u; j < KB; j++) { (*buf)[g * KB + j] = (*dp)[g][j]; }
}

// db (own g, partner j at g·KB + j) += dp[g][·]
fn addRow(db: ptr<function, array<f32, G * KB> >, dp: ptr<function, array<array<f32, KB>, G> >, g: u32) {
  for (var j = 0u; j < KB; j++) { (*db)[g * KB + j] += (*dp)[g][j]; }
}

// ---------------------------------------------------------------- forward

@compute @workgroup_size(8)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let t = tileOf(wid, nwg);
  if (!t.ok) { return; }
  let M = u.m;
  let h = t.h;
  var row: array<u32, G>;
  for (var g = 0u; g < G; g++) { row[g] = t.tile * KB + g * 8u + lane; }
  let nBlocks = (M + KB - 1u) / KB;
  var bc: array<f32, G * KB>;
  for (var blk = 0u; blk < nBlocks; blk++) {
    let k0 = blk * KB;
    let first = blk == 0u;
    let last = blk + 1u == nBlocks;
    for (var e = 0u; e < G * KB; e++) { bc[e] = biasOf(t.tile * KB + (e / KB) * 8u + lane, k0 + e % KB, h, true); }
    for (var bw = t.bw0; bw < t.bw1; bw++) {
      let p = problemOf(bw, h);
      let base = problemBase(p);
      var s: array<array<f32, KB>, G>;
      initTile(&s, &bc);
      for (var c = 0u; c < u.d; c += 4u) {
        var own: array<vec4f, G>;
        for (var g = 0u; g < G; g++) { own[g] = ldQ(base + min(row[g], M - 1u) * u.st, c) * u.scale; }
        var pk: array<vec4f, KV>;
        for (var v = 0u; v < KV; v++) { pk[v] = ldK(base + min(k0 + v * 8u + lane, M - 1u) * u.st, c); }
        scoreStep(&s, own, pk);
      }
      var mo: array<f32, G>;
      var lo = array<f32, G>();
      for (var g = 0u; g < G; g++) {
        mo[g] = -BIG;
        if (!first) {
          let ri = p * M + min(row[g], M - 1u);
          mo[g] = lse[ri];
          lo[g] = lsum[ri];
        }
      }
      var ml: array<vec2f, G>;
      ml[0] = softmaxRow(&s, 0u, mo[0]);
      ml[1] = softmaxRow(&s, 1u, mo[1]);
      ml[2] = softmaxRow(&s, 2u, mo[2]);
      ml[3] = softmaxRow(&s, 3u, mo[3]);
      ml[4] = softmaxRow(&s, 4u, mo[4]);
      ml[5] = softmaxRow(&s, 5u, mo[5]);
      ml[6] = softmaxRow(&s, 6u, mo[6]);
      var corr: array<f32, G>;
      var lrow: array<f32, G>;
      for (var g = 0u; g < G; g++) {
        corr[g] = exp(mo[g] - ml[g].x);
        lrow[g] = lo[g] * corr[g] + ml[g].y;
      }
      for (var c = 0u; c < u.d; c += 4u) {
        var pv: array<vec4f, KV>;
        for (var v = 0u; v < KV; v++) { pv[v] = ldV(base + min(k0 + v * 8u + lane, M - 1u) * u.st, c); }
        var acc = array<vec4f, G>();
        mixStep(&acc, &s, pv);
        for (var g = 0u; g < G; g++) {
          let o = base + min(row[g], M - 1u) * u.st;
          var y = acc[g];
          if (!first) { y = fma(vec4f(corr[g]), ldO(o, c), y); }
          if (last) { y = y / lrow[g]; }
          if (row[g] < M) { stO(o, c, y); }
        }
      }
      for (var g = 0u; g < G; g++) {
        if (row[g] < M) {
          let ri = p * M + row[g];
          if (last) {
            lse[ri] = ml[g].x + log(lrow[g]);
          } else {
            lse[ri] = ml[g].x;
            lsum[ri] = lrow[g];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- backward

@compute @workgroup_size(8)
fn bwd_dq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let t = tileOf(wid, nwg);
  if (!t.ok) { return; }
  let M = u.m;
  let h = t.h;
  var row: array<u32, G>;
  for (var g = 0u; g < G; g++) { row[g] = t.tile * KB + g * 8u + lane; }
  let nBlocks = (M + KB - 1u) / KB;
  var buf: array<f32, G * KB>;
  for (var blk = 0u; blk < nBlocks; blk++) {
    let k0 = blk * KB;
    let first = blk == 0u;
    for (var bw = t.bw0; bw < t.bw1; bw++) {
      let p = problemOf(bw, h);
      let base = problemBase(p);
      let dsBase = (bw * u.heads + h) * M;
      // ds rows of the own queries against this block's keys (0 past the edges)
      for (var e = 0u; e < G * KB; e++) {
        let i = t.tile * KB + (e / KB) * 8u + lane;
        let j = k0 + e % KB;
        buf[e] = select(0.0, dsb[(dsBase + min(i, M - 1u)) * M + min(j, M - 1u)], i < M && j < M);
      }
      var s: array<array<f32, KB>, G>;
      initTile(&s, &buf);
      for (var c = 0u; c < u.d; c += 4u) {
        var pk: array<vec4f, KV>;
        for (var v = 0u; v < KV; v++) { pk[v] = ldK(base + min(k0 + v * 8u + lane, M - 1u) * u.st, c); }
        var acc = array<vec4f, G>();
        mixStep(&acc, &s, pk);
        for (var g = 0u; g < G; g++) {
          let o = base + min(row[g], M - 1u) * u.st;
          var y = acc[g] * u.scale;
          if (!first) { y += ldDQ(o, c); }
          if (row[g] < M) { stDQ(o, c, y); }
        }
      }
    }
  }
}

@compute @workgroup_size(8)
fn bwd_kv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let t = tileOf(wid, nwg);
  if (!t.ok) { return; }
  let M = u.m;
  let h = t.h;
  let storeDb = (u.flags & 2u) != 0u;
  var row: array<u32, G>;
  for (var g = 0u; g < G; g++) { row[g] = t.tile * KB + g * 8u + lane; }
  let nBlocks = (M + KB - 1u) / KB;
  let grp = (u.p0 + t.bw0) / u.per;
  var bc: array<f32, G * KB>;
  var db: array<f32, G * KB>;
  var buf: array<f32, G * KB>;
  for (var blk = 0u; blk < nBlocks; blk++) {
    let q0 = blk * KB;
    let first = blk == 0u;
    for (var e = 0u; e < G * KB; e++) {
      bc[e] = biasOf(t.tile * KB + (e / KB) * 8u + lane, q0 + e % KB, h, false);
      db[e] = 0.0;
    }
    for (var bw = t.bw0; bw < t.bw1; bw++) {
      let p = problemOf(bw, h);
      let base = problemBase(p);
      var s: array<array<f32, KB>, G>;
      initTile(&s, &bc);
      var dp = array<array<f32, KB>, G>();
      // Δ = dO·O of this lane's partner queries
      var dv = array<f32, KV>();
      for (var c = 0u; c < u.d; c += 4u) {
        var ko: array<vec4f, G>;
        for (var g = 0u; g < G; g++) { ko[g] = ldK(base + min(row[g], M - 1u) * u.st, c); }
        var vo: array<vec4f, G>;
        for (var g = 0u; g < G; g++) { vo[g] = ldV(base + min(row[g], M - 1u) * u.st, c); }
        var pq: array<vec4f, KV>;
        for (var v = 0u; v < KV; v++) { pq[v] = ldQ(base + min(q0 + v * 8u + lane, M - 1u) * u.st, c) * u.scale; }
        var pg: array<vec4f, KV>;
        for (var v = 0u; v < KV; v++) { pg[v] = ldGO(base + min(q0 + v * 8u + lane, M - 1u) * u.st, c); }
        for (var v = 0u; v < KV; v++) { dv[v] += dot(pg[v], ldFO(base + min(q0 + v * 8u + lane, M - 1u) * u.st, c)); }
        scoreStep(&s, ko, pq);
        scoreStep(&dp, vo, pg);
      }
      var lv: array<f32, KV>;
      for (var v = 0u; v < KV; v++) { lv[v] = lse[p * M + min(q0 + v * 8u + lane, M - 1u)]; }
      var lr = spread(lv);
      var dr = spread(dv);
      dsCol(&s, &dp, 0u, &lr, &dr);
      dsCol(&s, &dp, 1u, &lr, &dr);
      dsCol(&s, &dp, 2u, &lr, &dr);
      dsCol(&s, &dp, 3u, &lr, &dr);
      dsCol(&s, &dp, 4u, &lr, &dr);
      dsCol(&s, &dp, 5u, &lr, &dr);
      dsCol(&s, &dp, 6u, &lr, &dr);
      if (storeDb) {
        addRow(&db, &dp, 0u);
        addRow(&db, &dp, 1u);
        addRow(&db, &dp, 2u);
        addRow(&db, &dp, 3u);
        addRow(&db, &dp, 4u);
        addRow(&db, &dp, 5u);
        addRow(&db, &dp, 6u);
      }
      saveRow(&buf, &dp, 0u);
      saveRow(&buf, &dp, 1u);
      saveRow(&buf, &dp, 2u);
      saveRow(&buf, &dp, 3u);
      saveRow(&buf, &dp, 4u);
      saveRow(&buf, &dp, 5u);
      saveRow(&buf, &dp, 6u);
      {
        // ds[query i][key j] of this window
        let dsBase = (bw * u.heads + h) * M;
        for (var e = 0u; e < G * KB; e++) {
          let j = t.tile * KB + (e / KB) * 8u + lane;
          let i = q0 + e % KB;
          if (j < M && i < M) { dsb[(dsBase + i) * M + j] = buf[e]; }
        }
      }
      for (var c = 0u; c < u.d; c += 4u) {
        var pq: array<vec4f, KV>;
        for (var v = 0u; v < KV; v++) { pq[v] = ldQ(base + min(q0 + v * 8u + lane, M - 1u) * u.st, c) * u.scale; }
        var pg: array<vec4f, KV>;
        for (var v = 0u; v < KV; v++) { pg[v] = ldGO(base + min(q0 + v * 8u + lane, M - 1u) * u.st, c); }
        var accV = array<vec4f, G>();
        var accK = array<vec4f, G>();
        mixStep(&accV, &s, pg);
        mixStep(&accK, &dp, pq);
        // (two loops: one this size stays small enough to be unrolled)
        for (var g = 0u; g < G; g++) {
          let o = base + min(row[g], M - 1u) * u.st;
          var y = accK[g];
          if (!first) { y += ldDK(o, c); }
          if (row[g] < M) { stDK(o, c, y); }
        }
        for (var g = 0u; g < G; g++) {
          let o = base + min(row[g], M - 1u) * u.st;
          var y = accV[g];
          if (!first) { y += ldDV(o, c); }
          if (row[g] < M) { stDV(o, c, y); }
        }
      }
    }
    if (storeDb) {
      // [group, head, query i, key j]
      let gb = (grp * u.heads + h) * M;
      for (var e = 0u; e < G * KB; e++) {
        let j = t.tile * KB + (e / KB) * 8u + lane;
        let i = q0 + e % KB;
        if (j < M && i < M) { dbp[(gb + i) * M + j] = db[e]; }
      }
    }
  }
}
