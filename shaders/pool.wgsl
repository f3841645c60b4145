// Average pooling over the last two axes of x viewed as [planes, H, W] (planes = N·C).
//
// `avg`                y[pl, oy, ox] = Σ x over the window rows oy·SH − PT … + KH − 1 (columns alike),
//                      divided by KH·KW (padding counts, like PyTorch's count_include_pad = True).
// `avg_backward`       dx[pl, iy, ix] = Σ dy over the outputs whose window covers (iy, ix), / KH·KW.
// `adaptive`           y[pl, i, j] = mean of rows ⌊i·H/OH⌋ … ⌈(i+1)·H/OH⌉ − 1 × columns alike (PyTorch's bins).
// `adaptive_backward`  dx[pl, iy, ix] = Σ dy[pl, i, j] / |bin (i, j)| over the bins containing (iy, ix).
// One output (or input) element per invocation: pooling does little arithmetic per load.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// #include "pool_window.wgsl"

@compute @workgroup_size(256)
fn avg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let ox = i % p.ow;
  let oy = (i / p.ow) % p.oh;
  let pl = i / (p.ow * p.oh);
  // the window clipped to the image; the padded part adds zeros
  let r = window(oy, ox);
  var s = 0.0;
  for (var iy = r.x; iy < r.y; iy++) {
    let row = (pl * p.h + iy) * p.w;
    for (var ix = r.z; ix < r.w; ix++) { s += x[row + ix]; }
  }
  y[i] = s * p.scale;
}

@compute @workgroup_size(256)
fn avg_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let ix = i % p.w;
  let iy = (i / p.w) % p.h;
  let pl = i / (p.w * p.h);
  let ry = coveringOutputs(iy, p.kh, p.sh, p.pt, p.oh);
  let rx = coveringOutputs(ix, p.kw, p.sw, p.pl, p.ow);
  var s = 0.0;
  for (var oy = ry.x; oy < ry.y; oy++) {
    let row = (pl * p.oh + oy) * p.ow;
    for (var ox = rx.x; ox < rx.y; ox++) { s += dy[row + ox]; }
  }
  dx[i] = s * p.scale;
}

// Bin i of `outSize` over `size`: [⌊i·size/outSize⌋, ⌈(i+1)·size/outSize⌉).
fn bin(i: u32, size: u32, outSize: u32) -> vec2u {
  return vec2u(i * size / outSize, ((i + 1u) * size + outSize - 1u) / outSize);
}

@compute @workgroup_size(256)
fn adaptive(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let ox = i % p.ow;
  let oy = (i / p.ow) % p.oh;
  let pl = i / (p.ow * p.oh);
  let by = bin(oy, p.h, p.oh);
  let bx = bin(ox, p.w, p.ow);
  var s = 0.0;
  for (var iy = by.x; iy < by.y; iy++) {
    let row = (pl * p.h + iy) * p.w;
    for (var ix = bx.x; ix < bx.y; ix++) { s += x[row + ix]; }
  }
  y[i] = s / f32((by.y - by.x) * (bx.y - bx.x));
}

// The bins containing position v are exactly i = ⌊v·outSize/size⌋ … ⌈(v+1)·outSize/size⌉ − 1:
// ⌊i·size/outSize⌋ ≤ v ⟺ i < (v+1)·outSize/size, and ⌈(i+1)·size/outSize⌉ > v ⟺ i + 1 > v·outSize/size.
@compute @workgroup_size(256)
fn adaptive_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let ix = i % p.w;
  let iy = (i / p.w) % p.h;
  let pl = i / (p.w * p.h);
  let oy0 = iy * p.oh / p.h;
  let oy1 = min(((iy + 1u) * p.oh + p.h - 1u) / p.h, p.oh);
  let ox0 = ix * p.ow / p.w;
  let ox1 = min(((ix + 1u) * p.ow + p.w - 1u) / p.w, p.ow);
  var s = 0.0;
  for (var oy = oy0; oy < oy1; oy++) {
    let by = bin(oy, p.h, p.oh);
    for (var ox = ox0; ox < ox1; ox++) {
      let bx = bin(ox, p.w, p.ow);
      s += dy[(pl * p.oh + oy) * p.ow + ox] / f32((by.y - by.x) * (bx.y - bx.x));
    }
  }
  dx[i] = s;
}
