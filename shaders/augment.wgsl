// Batch augmentation: random horizontal flip, then random erasing (torchvision's
// RandomHorizontalFlip and RandomErasing with a constant value), with per-image parameters
// derived from uniforms in [0, 1) drawn by the Philox generator (src/kernels/augment.ts).
//
// `params`: one invocation per image b reads its uniforms u[b, ·]: a row of K = 2 + 4·ATTEMPTS
// rounded up to a multiple of 4 (44 for 10 attempts: whole Philox blocks per image):
//   u0 < flip_p → flip;  u1 < erase_p → try to erase: for each attempt a (u[2+4a .. 5+4a]):
//     area = H·W·(scale_lo + (scale_hi − scale_lo)·u),  aspect = exp(log_r0 + (log_r1 − log_r0)·u'),
//     eh = round(√(area·aspect)), ew = round(√(area/aspect))   (round half to even, as Python)
//     accepted when eh < H and ew < W: top = ⌊u''·(H − eh + 1)⌋, left = ⌊u'''·(W − ew + 1)⌋.
//   Writes params[b] = (flip, top, left, eh, ew); eh = ew = 0 when nothing is erased.
// `apply`: y[b, c, i, j] = value inside the erased box, else x[b, c, i, flip ? W−1−j : j].
// `apply_backward`: the transpose: dx[b, c, i, j] = dy[b, c, i, j'] with j' the output column
//   that reads column j, or 0 where that output was erased.
override ATTEMPTS: u32 = 10u;

struct Params {
  n: u32,          // images (params) or elements (apply)
  c: u32,
  h: u32,
  w: u32,
  flip_p: f32,
  erase_p: f32,
  scale_lo: f32,
  scale_hi: f32,
  log_r0: f32,
  log_r1: f32,
  value: f32,
}

@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read_write> params: array<i32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn make_params(@builtin(global_invocation_id) gid: vec3u) {
  let b = gid.x;
  if (b >= p.n) { return; }
  let k = 4u * ((2u + 4u * ATTEMPTS + 3u) / 4u);
  let base = b * k;
  var flip = 0;
  if (u[base] < p.flip_p) { flip = 1; }
  var top = 0;
  var left = 0;
  var eh = 0;
  var ew = 0;
  if (u[base + 1u] < p.erase_p) {
    let hh = i32(p.h);
    let ww = i32(p.w);
    let area = f32(p.h * p.w);
    for (var a = 0u; a < ATTEMPTS; a++) {
      let q = base + 2u + 4u * a;
      let erase_area = area * (p.scale_lo + (p.scale_hi - p.scale_lo) * u[q]);
      let aspect = exp(p.log_r0 + (p.log_r1 - p.log_r0) * u[q + 1u]);
      let th = i32(round(sqrt(erase_area * aspect)));
      let tw = i32(round(sqrt(erase_area / aspect)));
      if (th < hh && tw < ww) {
        eh = th;
        ew = tw;
        top = min(i32(floor(u[q + 2u] * f32(hh - th + 1))), hh - th);
        left = min(i32(floor(u[q + 3u] * f32(ww - tw + 1))), ww - tw);
        break;
      }
    }
  }
  params[5u * b] = flip;
  params[5u * b + 1u] = top;
  params[5u * b + 2u] = left;
  params[5u * b + 3u] = eh;
  params[5u * b + 4u] = ew;
}

@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> prm: array<i32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

fn erased(b: u32, i: i32, j: i32) -> bool {
  let top = prm[5u * b + 1u];
  let left = prm[5u * b + 2u];
  return i >= top && i < top + prm[5u * b + 3u] && j >= left && j < left + prm[5u * b + 4u];
}

@compute @workgroup_size(256)
fn apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (e >= p.n) { return; }
  let j = e % p.w;
  let row = e - j;  // start of this (b, c, i) row
  let i = (e / p.w) % p.h;
  let b = e / (p.w * p.h * p.c);
  var src = j;
  if (prm[5u * b] == 1) { src = p.w - 1u - j; }
  if (erased(b, i32(i), i32(j))) {
    y[e] = p.value;
  } else {
    y[e] = x[row + src];
  }
}

@compute @workgroup_size(256)
fn apply_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (e >= p.n) { return; }
  let j = e % p.w;
  let row = e - j;
  let i = (e / p.w) % p.h;
  let b = e / (p.w * p.h * p.c);
  var out_j = j;
  if (prm[5u * b] == 1) { out_j = p.w - 1u - j; }
  if (erased(b, i32(i), i32(out_j))) {
    y[e] = 0.0;
  } else {
    y[e] = x[row + out_j];
  }
}
