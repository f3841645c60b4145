// Reductions over the middle axis of an input viewed as [outer, R, inner].
// OP: 0 sum (times `scale`, so mean = sum·1/R), 1 max, 2 min, 3 argmax (index as f32 bits of i32 in `idx`).
// `rows` handles inner == 1 (one workgroup per row, tree reduction in workgroup memory);
// `cols` handles inner > 1 (one thread per output, reading R values down a column).
override OP: u32 = 0u;

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 256u;
const BIG: f32 = 3.0e38;

var<workgroup> sv: array<f32, WG>;
var<workgroup> si: array<u32, WG>;

fn init() -> f32 {
  switch OP {
    case 1u, 3u: { return -BIG; }
    case 2u: { return BIG; }
    default: { return 0.0; }
  }
}

// Combines (a, ia) with (b, ib); for argmax the first index wins ties.
fn better(a: f32, ia: u32, b: f32, ib: u32) -> bool {
  if (OP == 2u) { return b < a || (b == a && ib < ia); }
  return b > a || (b == a && ib < ia);
}

// TPR threads share a row (a power of two ≤ 256; few on CPU adapters, where barriers are
// costly, many on GPUs); a workgroup covers 256 / TPR rows.
override TPR: u32 = 256u;

@compute @workgroup_size(256)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let rows_per_group = WG / TPR;
  let lane = lid % TPR;
  let seg = lid - lane;  // first slot of this row's segment
  let row = (wid.y * nwg.x + wid.x) * rows_per_group + lid / TPR;
  let live = row < p.outer;
  var acc = init();
  var ai = 0xffffffffu;
  if (live) {
    let base = row * p.r;
    for (var j = lane; j < p.r; j += TPR) {
      let v = x[base + j];
      if (OP == 0u) {
        acc += v;
      } else if (better(acc, ai, v, j)) {
        acc = v;
        ai = j;
      }
    }
  }
  sv[lid] = acc;
  si[lid] = ai;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      if (OP == 0u) {
        sv[lid] = sv[lid] + sv[lid + s];
      } else if (better(sv[lid], si[lid], sv[lid + s], si[lid + s])) {
        sv[lid] = sv[lid + s];
        si[lid] = si[lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lane == 0u && live) {
    if (OP == 3u) {
      out[row] = bitcast<f32>(i32(select(si[seg], 0u, si[seg] == 0xffffffffu)));
    } else if (OP == 0u) {
      out[row] = sv[seg] * p.scale;
    } else {
      out[row] = sv[seg];
    }
  }
}

@compute @workgroup_size(256)
fn cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * WG + lid;
  if (o >= p.outer * p.inner) { return; }
  let io = o / p.inner;
  let ii = o % p.inner;
  let base = io * p.r * p.inner + ii;
  var acc = init();
  var ai = 0xffffffffu;
  for (var j = 0u; j < p.r; j++) {
    let v = x[base + j * p.inner];
    if (OP == 0u) {
      acc += v;
    } else if (better(acc, ai, v, j)) {
      acc = v;
      ai = j;
    }
  }
  if (OP == 3u) {
    out[o] = bitcast<f32>(i32(select(ai, 0u, ai == 0xffffffffu)));
  } else if (OP == 0u) {
    out[o] = acc * p.scale;
  } else {
    out[o] = acc;
  }
}
