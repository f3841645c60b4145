// What window_attention.wgsl (portable kernels) and window_attention_sg.wgsl (subgroup kernels)
// share: the uniforms, the bindings both use, and the problem and relative-position indexing.
// Included with `// #include "window_attention_common.wgsl"`.

struct Params {
  problems: u32,   // problems in this dispatch (forward: all)
  p0: u32,         // first problem of this dispatch (the subgroup kernels: first window, bw, of the chunk)
  heads: u32,
  nwin: u32,
  m: u32,          // tokens per window (M)
  w: u32,          // window side (1 without a bias)
  tiles: u32,      // row tiles per problem (WGS · R rows each)
  sb: u32,
  sw: u32,
  sh: u32,
  st: u32,
  scale: f32,
  flags: u32,      // 1: add the bias; 2: bwd_q stores ds
  entries: u32,    // bias: table entries · heads
  splits: u32,     // bwd_bias: splits in this dispatch
  s0: u32,         // bwd_bias: first split of this dispatch
  per: u32,        // bwd_bias: windows (bw) per split (the subgroup kernels: windows per workgroup)
  bwTotal: u32,    // B · nWin (the subgroup kernels: windows in this dispatch's chunk)
  totalSplits: u32,
  d: u32,          // head width (the subgroup kernels; here HD)
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> qb: array<f32>;
@group(0) @binding(2) var<storage, read> kb: array<f32>;
@group(0) @binding(3) var<storage, read> vb: array<f32>;
@group(0) @binding(4) var<storage, read> tbl: array<f32>;
@group(0) @binding(5) var<storage, read_write> ob: array<f32>;
// [P, M] log-sum-exp of every query row's scores
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
// backward: the gradient of the output and the forward output
@group(0) @binding(7) var<storage, read> gob: array<f32>;
@group(0) @binding(8) var<storage, read> fob: array<f32>;
@group(0) @binding(9) var<storage, read_write> dqb: array<f32>;
@group(0) @binding(10) var<storage, read_write> dkb: array<f32>;
@group(0) @binding(11) var<storage, read_write> dvb: array<f32>;

fn problemBase(p: u32) -> u32 {
  let bw = p / u.heads;
  return (bw / u.nwin) * u.sb + (bw % u.nwin) * u.sw + (p % u.heads) * u.sh;
}

// rel(i, j) = relQuery(i) − relKey(j)
fn relQuery(i: u32) -> u32 {
  let w = u.w;
  return (i / w + w - 1u) * (2u * w - 1u) + i % w + w - 1u;
}

fn relKey(j: u32) -> u32 {
  let w = u.w;
  return (j / w) * (2u * w - 1u) + j % w;
}
