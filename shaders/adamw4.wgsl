// AdamW (shaders/adamw.wgsl's update) of four parameters in one dispatch: the optimizer step of a
// model is one dispatch per parameter otherwise, and a model has hundreds of small ones, each
// paying a dispatch's fixed cost (on lavapipe about 0.1 ms, more than updating a few thousand
// floats). 16 storage bindings: WebGPU's limit per stage is 8 unless the device asks for more,
// so the optimizer uses this kernel only where the device allows 16.
//
// Workgroups [0, start1) update parameter 0, [start1, start2) parameter 1, and so on; each
// parameter's workgroups cover its ceil(n / 4) vec4s (the last vec4 may run into its buffer's
// padding, as in adamw.wgsl). WGSL cannot index bindings, so each parameter has its own block.
struct Params {
  n4_0: u32,           // vec4s of each parameter
  n4_1: u32,
  n4_2: u32,
  n4_3: u32,
  start1: u32,         // first workgroup of parameters 1, 2, 3
  start2: u32,
  start3: u32,
  decay: f32,          // adamw.wgsl's scalars, shared by the four (same step count)
  beta1: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  step_size: f32,
  inv_bc2_sqrt: f32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read_write> p0: array<vec4f>;
@group(0) @binding(1) var<storage, read> g0: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> m0: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> v0: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> p1: array<vec4f>;
@group(0) @binding(5) var<storage, read> g1: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> m1: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> v1: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> p2: array<vec4f>;
@group(0) @binding(9) var<storage, read> g2: array<vec4f>;
@group(0) @binding(10) var<storage, read_write> m2: array<vec4f>;
@group(0) @binding(11) var<storage, read_write> v2: array<vec4f>;
@group(0) @binding(12) var<storage, read_write> p3: array<vec4f>;
@group(0) @binding(13) var<storage, read> g3: array<vec4f>;
@group(0) @binding(14) var<storage, read_write> m3: array<vec4f>;
@group(0) @binding(15) var<storage, read_write> v3: array<vec4f>;
@group(0) @binding(16) var<uniform> u: Params;

// #include "adamw_update.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.y * nwg.x + wid.x;
  if (w < u.start1) {
    let i = w * 256u + lid;
    if (i >= u.n4_0) { return; }
    let r = adamwUpdate(p0[i], g0[i], m0[i], v0[i]);
    m0[i] = r.m;
    v0[i] = r.v;
    p0[i] = r.p;
  } else if (w < u.start2) {
    let i = (w - u.start1) * 256u + lid;
    if (i >= u.n4_1) { return; }
    let r = adamwUpdate(p1[i], g1[i], m1[i], v1[i]);
    m1[i] = r.m;
    v1[i] = r.v;
    p1[i] = r.p;
  } else if (w < u.start3) {
    let i = (w - u.start2) * 256u + lid;
    if (i >= u.n4_2) { return; }
    let r = adamwUpdate(p2[i], g2[i], m2[i], v2[i]);
    m2[i] = r.m;
    v2[i] = r.v;
    p2[i] = r.p;
  } else {
    let i = (w - u.start3) * 256u + lid;
    if (i >= u.n4_3) { return; }
    let r = adamwUpdate(p3[i], g3[i], m3[i], v3[i]);
    m3[i] = r.m;
    v3[i] = r.v;
    p3[i] = r.p;
  }
}
