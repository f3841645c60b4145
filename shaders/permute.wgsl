// Batched transpose [B, R, C] -> [B, C, R] through a 32×32 tile in workgroup memory, so both
// the reads and the writes walk memory contiguously. Moves 32-bit words (f32 or i32).
// Any other axis order goes through slice.wgsl's `strided` entry.
struct Params {
  batch: u32,
  rows: u32,
  cols: u32,
  tiles_r: u32,
  tiles_c: u32,
}

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

const TILE: u32 = 32u;
// one padding column so reading a tile column hits 32 different banks
var<workgroup> tile: array<array<u32, 33>, 32>;

@compute @workgroup_size(32, 8)
fn tiled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.y * nwg.x + wid.x;
  let per_batch = p.tiles_r * p.tiles_c;
  if (t >= p.batch * per_batch) { return; }  // uniform per workgroup
  let b = t / per_batch;
  let tr = (t % per_batch) / p.tiles_c;
  let tc = t % p.tiles_c;
  let plane = b * p.rows * p.cols;
  let r0 = tr * TILE;
  let c0 = tc * TILE;
  for (var j = lid.y; j < TILE; j += 8u) {
    let r = r0 + j;
    let c = c0 + lid.x;
    if (r < p.rows && c < p.cols) {
      tile[j][lid.x] = x[plane + r * p.cols + c];
    }
  }
  workgroupBarrier();
  for (var j = lid.y; j < TILE; j += 8u) {
    let c = c0 + j;
    let r = r0 + lid.x;
    if (c < p.cols && r < p.rows) {
      y[plane + c * p.rows + r] = tile[lid.x][j];
    }
  }
}
