// Deterministic scatter-add: a stable counting sort of the keys, then every output row sums its
// sources in source order. No float atomics, so the result is bitwise the same every run.
//   1. `histogram`: counts[key] += 1 for each valid key (integer atomics: order-free result).
//   2. `scan_blocks` / `scan_add`: exclusive prefix sum of the counts -> offsets (multi-level,
//      1024 entries per workgroup).
//   3. `rank`: one workgroup walks the keys in order, 256 at a time, placing source m at
//      offsets[key] + (occurrences of key before m): `order` lists sources grouped by key,
//      in increasing source order inside each group.
//   4. `reduce`: out[o, a, k] = base[o, a, k] + Σ_{s in offsets[a]..offsets[a+1]} src[o, order[s], k],
//      src viewed as [outer, n, inner] and out as [outer, buckets, inner].
// Keys are i32 indices read as u32, so negative ones are out of range like those ≥ buckets:
// they are skipped.
override HAS_BASE: bool = true;

struct Params {
  n: u32,        // number of keys (sources)
  buckets: u32,  // key range
  outer: u32,
  inner: u32,
  len: u32,      // scan length
}

@group(0) @binding(0) var<storage, read> keys: array<u32>;
@group(0) @binding(1) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> data: array<u32>;
@group(0) @binding(3) var<storage, read_write> sums: array<u32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> cursor: array<u32>;
@group(0) @binding(6) var<storage, read_write> order: array<u32>;
@group(0) @binding(7) var<storage, read> sorted: array<u32>;
@group(0) @binding(8) var<storage, read> base: array<f32>;
@group(0) @binding(9) var<storage, read> src: array<f32>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;
@group(0) @binding(11) var<uniform> p: Params;

const WG: u32 = 256u;
const SCAN_ITEMS: u32 = 4u;

var<workgroup> shared_u: array<u32, WG>;

fn global_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(256)
fn histogram(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = global_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let key = keys[i];
  if (key < p.buckets) {
    atomicAdd(&counts[key], 1u);
  }
}

// Exclusive scan of data[0..len) within blocks of WG·SCAN_ITEMS; each block's total -> sums[block].
@compute @workgroup_size(256)
fn scan_blocks(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let wg_index = wid.y * nwg.x + wid.x;
  let block_start = wg_index * WG * SCAN_ITEMS;
  if (block_start >= p.len) { return; }  // uniform per workgroup
  let mine = block_start + lid * SCAN_ITEMS;
  var v: array<u32, 4>;
  var total = 0u;
  for (var j = 0u; j < SCAN_ITEMS; j++) {
    let idx = mine + j;
    v[j] = select(0u, data[idx], idx < p.len);
    total += v[j];
  }
  // Hillis–Steele inclusive scan of the per-thread totals
  shared_u[lid] = total;
  workgroupBarrier();
  for (var off = 1u; off < WG; off *= 2u) {
    let add = select(0u, shared_u[lid - off], lid >= off);
    workgroupBarrier();
    shared_u[lid] += add;
    workgroupBarrier();
  }
  var run = shared_u[lid] - total;
  for (var j = 0u; j < SCAN_ITEMS; j++) {
    let idx = mine + j;
    if (idx < p.len) {
      data[idx] = run;
    }
    run += v[j];
  }
  if (lid == WG - 1u) {
    sums[wg_index] = shared_u[lid];
  }
}

// Adds the scanned block totals back: data[i] += sums[block of i].
@compute @workgroup_size(256)
fn scan_add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = global_index(wid, nwg, lid);
  if (i >= p.len) { return; }
  data[i] += sums[i / (WG * SCAN_ITEMS)];
}

// Stable placement, one workgroup. cursor[key] counts the occurrences of key already placed.
@compute @workgroup_size(256)
fn rank(@builtin(local_invocation_index) lid: u32) {
  for (var start = 0u; start < p.n; start += WG) {
    let m = start + lid;
    var key = 0xffffffffu;
    if (m < p.n) {
      key = keys[m];
    }
    shared_u[lid] = key;
    workgroupBarrier();
    var before = 0u;
    var last = true;
    if (key < p.buckets) {
      for (var j = 0u; j < WG; j++) {
        if (shared_u[j] == key) {
          if (j < lid) {
            before += 1u;
          } else if (j > lid) {
            last = false;
          }
        }
      }
      order[offsets[key] + cursor[key] + before] = m;
    }
    // every lane has read cursor before the last occurrence of each key advances it
    storageBarrier();
    workgroupBarrier();
    if (key < p.buckets && last) {
      cursor[key] += before + 1u;
    }
    storageBarrier();
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = global_index(wid, nwg, lid);
  if (i >= p.outer * p.buckets * p.inner) { return; }
  let row = i / p.inner;
  let k = i - row * p.inner;
  let o = row / p.buckets;
  let a = row - o * p.buckets;
  var acc = 0.0;
  if (HAS_BASE) {
    acc = base[i];
  }
  let src_row = o * p.n;
  for (var s = offsets[a]; s < offsets[a + 1u]; s++) {
    acc += src[(src_row + sorted[s]) * p.inner + k];
  }
  out[i] = acc;
}
