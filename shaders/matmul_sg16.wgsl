// #include "matmul_sg_body.wgsl"

// 16-row tiles, for products with 9 to 16 rows: a 32-row tile would spend half its work on
// clamped copies of rows.
const ROWS: u32 = 16u;
