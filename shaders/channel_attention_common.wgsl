// What channel_attention.wgsl (every kernel, portable gram and mix) and channel_attention_sg.wgsl
// (subgroup gram and mix) share: the uniforms, the bindings gram and mix use, and the masked
// loads. Included with `// #include "channel_attention_common.wgsl"`.

override VEC: bool = false;   // n % 4 == 0: rows start on vec4 boundaries, vec4 loads/stores

const NORMS: u32 = 1u;
const TRANS: u32 = 2u;

struct Params {
  c: u32,        // rows (channels) per problem
  n: u32,        // columns (pixels)
  problems: u32, // B · heads
  splits: u32,   // gram: column chunks per problem
  chunk: u32,    // gram: columns per chunk (a multiple of 4)
  tilesJ: u32,   // gram: workgroups across the b rows
  colGroups: u32,// mix: workgroups across the columns
  heads: u32,
  eps: f32,
  // bit 0: gram also sums the squared row norms; bit 1: mix multiplies by Mᵀ
  flags: u32,
  // where each problem's c×n block lies in its buffer (see blockOf): elements from one image to
  // the next, and the offset of the first, of operand a, operand b and the output. Tensors of
  // their own have heads·c·n and 0; q, k and v packed as [B, 3, heads, c, n], 3·heads·c·n and
  // 0, heads·c·n or 2·heads·c·n.
  sa: u32,
  oa: u32,
  sb: u32,
  ob: u32,
  so: u32,
  oo: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// gram: a (q or g) and b (k or v); mix: a is x (the c×n operand); diag_sub: b is y
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> a4: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> b4: array<vec4f>;
// [P, splits, c, c] partial products; [P, splits, 2, c] partial squared norms (a, then b)
@group(0) @binding(5) var<storage, read_write> part: array<f32>;
@group(0) @binding(6) var<storage, read_write> npart: array<f32>;
// mix: the c×c matrices and the output (scalar and vec4 views); diag_sub: the diagonal d
@group(0) @binding(11) var<storage, read> mat: array<f32>;
@group(0) @binding(13) var<storage, read_write> out: array<f32>;
@group(0) @binding(14) var<storage, read_write> out4: array<vec4f>;

fn flag(f: u32) -> bool {
  return (p.flags & f) != 0u;
}

// The first element of problem `prob` (image prob / heads, head prob % heads) of an operand
// laid out with `stride` elements per image from `off`.
fn blockOf(prob: u32, stride: u32, off: u32) -> u32 {
  return (prob / p.heads) * stride + (prob % p.heads) * p.c * p.n + off;
}

// a[off + k + q] for q < 4, zero where k + q ≥ end (off + end − 1 is a valid index).
fn loadA4(off: u32, k: u32, end: u32) -> vec4f {
  var v: vec4f;
  for (var q = 0u; q < 4u; q++) {
    v[q] = select(0.0, a[off + min(k + q, end - 1u)], k + q < end);
  }
  return v;
}

fn loadB4(off: u32, k: u32, end: u32) -> vec4f {
  var v: vec4f;
  for (var q = 0u; q < 4u; q++) {
    v[q] = select(0.0, b[off + min(k + q, end - 1u)], k + q < end);
  }
  return v;
}

// x[j, col .. col+3] of the problem starting at `base` (columns past n read as 0).
fn loadX4(base: u32, j: u32, col: u32) -> vec4f {
  let N = p.n;
  if (VEC) {
    return a4[(base + j * N) / 4u + min(col, N - 4u) / 4u];
  }
  return loadA4(base + j * N, col, N);
}
