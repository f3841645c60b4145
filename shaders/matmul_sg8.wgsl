// #include "matmul_sg_body.wgsl"

// 8-row tiles, for products with at most 8 rows (the 1×1 convolutions of narrow layers and their
// gradients): a 32-row tile would spend three quarters of its work on clamped copies of rows.
const ROWS: u32 = 8u;
