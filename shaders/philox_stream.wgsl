// A Generator's Philox stream inside a shader: block j of a draw whose key and counter offset
// come in the includer's uniform `p` (fields key0, key1, ctr0, ctr1; src/kernels/random.ts's
// philoxUniforms), and element i of randomNormal's draw from it.
// #include "philox.wgsl"

// Block j: counter offset + j, with the carry into the high word.
fn philox_block(j: u32) -> vec4u {
  let lo = p.ctr0 + j;
  let hi = p.ctr1 + select(0u, 1u, lo < p.ctr0);
  return philox(vec4u(lo, hi, 0u, 0u), vec2u(p.key0, p.key1));
}

// Element i of randomNormal's draw (mean 0, std 1: randomNormal's 0 + 1·z is z): word i mod 4 of
// block ⌊i/4⌋, Box–Muller on word pairs.
fn normal_at(i: u32) -> f32 {
  let w = philox_block(i / 4u);
  let k = i % 4u;
  let z = select(box_muller(w.x, w.y), box_muller(w.z, w.w), k >= 2u);
  return select(z.x, z.y, (k & 1u) == 1u);
}
