// Max pooling over the last two axes of x viewed as [planes, H, W] (planes = N·C).
//
// `max`           y[pl, oy, ox] = max of x over rows oy·SH − PT … + KH − 1 × columns ox·SW − PL … + KW − 1,
//                 clipped to the image: padded cells never win (TF's SAME, PyTorch's −∞ padding).
//                 EPI = 1 adds an epilogue: y = leaky(max + bias[c], slope), c = pl mod C. Because
//                 x ↦ leaky(x + b) is non-decreasing, this equals pooling leaky(x + bias) (face-api's
//                 tiny face detector: conv + bias, leaky ReLU, max pool) in one pass.
// `max_backward`  dx[pl, iy, ix] = Σ dy[pl, oy, ox] over the outputs whose window covers (iy, ix)
//                 and whose maximum is first reached at (iy, ix) in row-major window order (ties go
//                 to the first, as TF and PyTorch do); every window's argmax is recomputed from x.
//                 A gather: no atomics, a fixed summation order (deterministic).
// `max_forward_grid` is max_forward on a 3-D grid with the window size fixed (small windows).
// One output (or input) element per invocation.
override EPI: u32 = 0u;
// Window size fixed at pipeline creation (0: read from the uniforms), for the grid entry.
override KH: u32 = 0u;
override KW: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// #include "pool_window.wgsl"

@compute @workgroup_size(256)
fn max_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let ox = i % p.ow;
  let oy = (i / p.ow) % p.oh;
  let pl = i / (p.ow * p.oh);
  let r = window(oy, ox);
  var m = -3.0e38;
  for (var iy = r.x; iy < r.y; iy++) {
    let row = (pl * p.h + iy) * p.w;
    for (var ix = r.z; ix < r.w; ix++) { m = max(m, x[row + ix]); }
  }
  if (EPI == 1u) {
    let v = m + bias[pl % p.c];
    m = select(v * p.slope, v, v >= 0.0);
  }
  y[i] = m;
}

// Index (in the plane) of the first maximum of output (oy, ox)'s window.
fn argmaxOf(pl: u32, oy: u32, ox: u32) -> u32 {
  let r = window(oy, ox);
  var m = -3.0e38;
  var at = 0xffffffffu;
  for (var iy = r.x; iy < r.y; iy++) {
    for (var ix = r.z; ix < r.w; ix++) {
      let v = x[(pl * p.h + iy) * p.w + ix];
      if (v > m || at == 0xffffffffu) {
        m = v;
        at = iy * p.w + ix;
      }
    }
  }
  return at;
}

@compute @workgroup_size(256)
fn max_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= p.total) { return; }
  let ix = i % p.w;
  let iy = (i / p.w) % p.h;
  let pl = i / (p.w * p.h);
  let ry = coveringOutputs(iy, p.kh, p.sh, p.pt, p.oh);
  let rx = coveringOutputs(ix, p.kw, p.sw, p.pl, p.ow);
  let me = iy * p.w + ix;
  var s = 0.0;
  for (var oy = ry.x; oy < ry.y; oy++) {
    for (var ox = rx.x; ox < rx.y; ox++) {
      if (argmaxOf(pl, oy, ox) == me) { s += dy[(pl * p.oh + oy) * p.ow + ox]; }
    }
  }
  dx[i] = s;
}

// The same as max_forward on a 3-D grid (x: output columns, y: rows, z: planes; 8×8 outputs per
// workgroup): no index divisions, and with KH, KW fixed the window loops unroll.
@compute @workgroup_size(8, 8, 1)
fn max_forward_grid(@builtin(global_invocation_id) gid: vec3u) {
  let ox = gid.x;
  let oy = gid.y;
  let pl = gid.z;
  if (ox >= p.ow || oy >= p.oh) { return; }
  let y0 = i32(oy * p.sh) - p.pt;
  let x0 = i32(ox * p.sw) - p.pl;
  var m = -3.0e38;
  for (var ky = 0u; ky < KH; ky++) {
    let iy = y0 + i32(ky);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    let row = (pl * p.h + u32(iy)) * p.w;
    for (var kx = 0u; kx < KW; kx++) {
      let ix = x0 + i32(kx);
      if (ix >= 0 && ix < i32(p.w)) { m = max(m, x[row + u32(ix)]); }
    }
  }
  if (EPI == 1u) {
    let v = m + bias[pl % p.c];
    m = select(v * p.slope, v, v >= 0.0);
  }
  y[(pl * p.oh + oy) * p.ow + ox] = m;
}
