// #include "matmul_sg_body.wgsl"

// 32-row tiles: the general case.
const ROWS: u32 = 32u;
