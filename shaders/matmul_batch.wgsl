// The batch indexing shared by matmul.wgsl and matmul_sg_body.wgsl: batch z's element offsets
// in a and b from the includer's uniforms batchRank, batchShape, sa and sb (right-aligned, 0 on
// broadcast axes). Included with `// #include "matmul_batch.wgsl"`.

fn dim(arr: array<vec4u, 2>, d: u32) -> u32 {
  return arr[d / 4u][d % 4u];
}

// Element offsets of batch z in a and b.
fn batchOffsets(z: u32) -> vec2u {
  var rem = z;
  var off = vec2u(0u, 0u);
  for (var d = i32(p.batchRank) - 1; d >= 0; d--) {
    let s = dim(p.batchShape, u32(d));
    let c = rem % s;
    rem = rem / s;
    off += c * vec2u(dim(p.sa, u32(d)), dim(p.sb, u32(d)));
  }
  return off;
}
