// AdamW update as torch.optim.AdamW (amsgrad off), fused into one pass: reads the gradient and
// updates the parameter and both moments in place. Every step-dependent scalar (bias
// corrections, lr) arrives as a uniform, so one pipeline serves every step.
//
// Works on vec4s: pooled buffers hold a multiple of 16 bytes (at least 256), so the last vec4
// may run past the tensor's end into its own buffer's padding, which nothing reads.
struct Params {
  n4: u32,             // vec4s to update: ceil(n / 4)
  decay: f32,          // 1 - lr·weight_decay (decoupled weight decay)
  beta1: f32,
  one_minus_beta1: f32, // computed in float64 on the host: 1 - 0.999 in f32 loses 1e-5 relative
  beta2: f32,
  one_minus_beta2: f32,
  step_size: f32,      // lr / (1 - beta1^t)
  inv_bc2_sqrt: f32,   // 1 / sqrt(1 - beta2^t)
  eps: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(1) var<storage, read> grad: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> exp_avg: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> exp_avg_sq: array<vec4f>;
@group(0) @binding(4) var<uniform> u: Params;

// #include "adamw_update.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= u.n4) { return; }
  let r = adamwUpdate(param[i], grad[i], exp_avg[i], exp_avg_sq[i]);
  exp_avg[i] = r.m;
  exp_avg_sq[i] = r.v;
  param[i] = r.p;
}
