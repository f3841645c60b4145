// torch.optim.AdamW's update (amsgrad off) of four elements, shared by adamw.wgsl (one parameter
// per dispatch) and adamw4.wgsl (four). Included with `// #include "adamw_update.wgsl"`; reads the
// step's scalars from the including shader's uniform `u` (decay, one_minus_beta1, beta2,
// one_minus_beta2, step_size, inv_bc2_sqrt, eps).

struct AdamwUpdate {
  m: vec4f,
  v: vec4f,
  p: vec4f,
}

fn adamwUpdate(p: vec4f, g: vec4f, m_prev: vec4f, v_prev: vec4f) -> AdamwUpdate {
  // torch: exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
  let m = m_prev + u.one_minus_beta1 * (g - m_prev);
  let v = u.beta2 * v_prev + u.one_minus_beta2 * g * g;
  // torch: denom = sqrt(v) / sqrt(bc2) + eps; param = param·(1 - lr·wd) - step_size · m / denom
  let denom = sqrt(v) * u.inv_bc2_sqrt + u.eps;
  return AdamwUpdate(m, v, p * u.decay - u.step_size * (m / denom));
}
