// 3×3 depthwise convolutions (padding 1, stride 1) on strips of four columns, every value in
// vectors: a row's columns around the strip as three quads, the strip's own four and its two halo
// columns (ox0 − 1, ox0 + 4) shifted by whole registers. No private array is indexed, so nothing
// depends on the compiler unrolling a loop (CPU drivers keep arrays indexed in a rolled loop in
// memory and work them a lane at a time). Included by gdfn.wgsl and depthwise.wgsl, whose
// loaders fill the rows.

// Where strip unit u lies: u = (plane · chunks + k) · strips + s gives (s, k, plane), the strip
// s of four columns, the chunk k of rows and the plane (an image's channel, or an image).
fn stripUnit(u: u32, strips: u32, chunks: u32) -> vec3u {
  return vec3u(u % strips, (u / strips) % chunks, u / (strips * chunks));
}

// Columns ox0 − 4 … ox0 + 7 of one row: ox0 − 4 … ox0 − 1 in a, the strip's own four in b,
// ox0 + 4 … ox0 + 7 in c; zero outside the image.
struct Row3 {
  a: vec4f,
  b: vec4f,
  c: vec4f,
}

// The strip's columns shifted by −1 and +1, and the halo columns (ox0 − 1, ox0 + 4) shifted by
// −1, 0 and +1.
fn left1(r: Row3) -> vec4f { return vec4f(r.a.w, r.b.x, r.b.y, r.b.z); }
fn right1(r: Row3) -> vec4f { return vec4f(r.b.y, r.b.z, r.b.w, r.c.x); }
fn haloL(r: Row3) -> vec2f { return vec2f(r.a.z, r.b.w); }
fn halo0(r: Row3) -> vec2f { return vec2f(r.a.w, r.c.x); }
fn haloR(r: Row3) -> vec2f { return vec2f(r.b.x, r.c.y); }

// 3×3 depthwise convolution at the strip's columns and at its halo columns, from rows above, at
// and below.
fn conv4(k: array<f32, 9>, r0: Row3, r1: Row3, r2: Row3) -> vec4f {
  var s = k[0] * left1(r0) + k[1] * r0.b + k[2] * right1(r0);
  s += k[3] * left1(r1) + k[4] * r1.b + k[5] * right1(r1);
  return s + k[6] * left1(r2) + k[7] * r2.b + k[8] * right1(r2);
}

fn conv2(k: array<f32, 9>, r0: Row3, r1: Row3, r2: Row3) -> vec2f {
  var s = k[0] * haloL(r0) + k[1] * halo0(r0) + k[2] * haloR(r0);
  s += k[3] * haloL(r1) + k[4] * halo0(r1) + k[5] * haloR(r1);
  return s + k[6] * haloL(r2) + k[7] * halo0(r2) + k[8] * haloR(r2);
}
