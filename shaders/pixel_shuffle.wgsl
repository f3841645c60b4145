// Pixel shuffle and its inverse: pure index permutations (PyTorch's order), one element per invocation.
// `shuffle`    y [N, C, H·R, W·R] from x [N, C·R², H, W]: y[n, c, h·R + i, w·R + j] = x[n, c·R² + i·R + j, h, w]
// `unshuffle`  y [N, C·R², H, W] from x [N, C, H·R, W·R]: the inverse permutation (each element moved once).
// Shapes are given as the small side: planes = N·C, h = H, w = W.
struct Params {
  total: u32,
  r: u32,
  h: u32,
  w: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u;

fn invocation(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// Offset in the [planes·R², H, W] layout of element (plane, h·R + i, w·R + j) of the [planes, H·R, W·R] layout.
fn smallOffset(plane: u32, bigRow: u32, bigCol: u32) -> u32 {
  let i = bigRow % p.r;
  let j = bigCol % p.r;
  let ch = (plane * p.r + i) * p.r + j;
  return (ch * p.h + bigRow / p.r) * p.w + bigCol / p.r;
}

@compute @workgroup_size(256)
fn shuffle(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = invocation(wid, nwg, lid);
  if (o >= p.total) { return; }
  let bw = p.w * p.r;
  let bh = p.h * p.r;
  let col = o % bw;
  let row = (o / bw) % bh;
  let plane = o / (bw * bh);
  y[o] = x[smallOffset(plane, row, col)];
}

@compute @workgroup_size(256)
fn unshuffle(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let bw = p.w * p.r;
  let bh = p.h * p.r;
  let col = i % bw;
  let row = (i / bw) % bh;
  let plane = i / (bw * bh);
  y[smallOffset(plane, row, col)] = x[i];
}
