// Complex FFTs of power-of-two sizes, and the small complex helpers around them.
//
// Complex numbers are interleaved: a tensor [..., 2] holds (re, im) pairs, read here as vec2f.
//
// `stockham`  one radix-2 Stockham autosort pass along one axis of a batch viewed as
//             [outer, n, inner] complex values (inner = 1 for the last axis). Invocation t
//             handles one butterfly: q = t mod inner, j = (t / inner) mod n/2, o = the rest.
//             With span p (1, 2, 4, …, n/2 over the log2 n passes) and k = j mod p:
//               u0 = src[j], u1 = src[j + n/2] · w_n^(k·n/(2p)),
//               dst[2j − k] = (u0 + u1)·scale, dst[2j − k + p] = (u0 − u1)·scale
//             (Govindaraju et al. 2008), so the output ends in natural order without a
//             bit-reversal pass. Twiddles w_n^m = exp(−2πi·m/n), m < n/2, come from a table
//             computed in float64 on the host; `inverse` conjugates them.
// `local`     the whole transform of one line (n ≤ LOCAL_MAX) in one workgroup: the same
//             Stockham passes, ping-ponging two workgroup arrays with a barrier between passes
//             (one read and one write of global memory instead of log2 n of each); workgroup
//             l handles line l = o·inner + q; `scale` multiplies the result (1/n: inverse).
// `embed`     real [b, h, w] → complex [b, mh, mw], the real block at (oy, ox), zeros elsewhere.
//             `pairs` = 1: real [2·b', …] images 2j and 2j + 1 become the real and imaginary parts
//             of complex frame j (planes per image: `per_b` = planes of h×w per image); a
//             missing last partner is zero. Convolving such a frame with a real kernel convolves
//             both images at once.
// `extract`   complex [b, mh, mw] → real parts of the block [b, h, w] starting at (oy, ox);
//             `pairs` = 1: the inverse of the paired embed (imaginary parts → odd images).
// `cmul`      a ⊙ b, complex, b broadcast over the batch (b's batch index = a's mod nb);
//             `inverse` = 1 conjugates b (a correlation instead of a convolution).
// `abs2`      |z|² of every complex value.

struct Params {
  // stockham
  outer: u32,
  n: u32,
  inner: u32,
  p: u32,
  log_p: u32,
  inverse: u32,
  scale: f32,
  // embed / extract / cmul / abs2
  total: u32,
  b: u32,
  h: u32,
  w: u32,
  mh: u32,
  mw: u32,
  oy: u32,
  ox: u32,
  per_b: u32,
  nb: u32,
  pairs: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> src: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec2f>;
@group(0) @binding(3) var<storage, read> twiddle: array<vec2f>;
@group(0) @binding(4) var<storage, read> re: array<f32>;
@group(0) @binding(5) var<storage, read_write> re_out: array<f32>;
@group(0) @binding(6) var<storage, read> other: array<vec2f>;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

fn cmul_(a: vec2f, b: vec2f) -> vec2f {
  return vec2f(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

@compute @workgroup_size(256)
fn stockham(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = index(wid, nwg, lid);
  let half = prm.n >> 1u;
  if (t >= prm.outer * prm.inner * half) { return; }
  let q = t % prm.inner;
  let rest = t / prm.inner;
  let j = rest % half;
  let o = rest / half;
  let base = o * prm.n * prm.inner + q;
  let k = j & (prm.p - 1u);
  var w = twiddle[k * (half >> prm.log_p)];
  if (prm.inverse != 0u) { w.y = -w.y; }
  let u0 = src[base + j * prm.inner];
  let u1 = cmul_(src[base + (j + half) * prm.inner], w);
  let d = ((j - k) << 1u) + k;
  dst[base + d * prm.inner] = (u0 + u1) * prm.scale;
  dst[base + (d + prm.p) * prm.inner] = (u0 - u1) * prm.scale;
}

const LOCAL_MAX: u32 = 1024u;
const LOCAL_WG: u32 = 64u;
var<workgroup> ping: array<vec2f, LOCAL_MAX>;
var<workgroup> pong: array<vec2f, LOCAL_MAX>;

@compute @workgroup_size(64)
fn local(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let line = wid.y * nwg.x + wid.x;
  // uniform per workgroup: every invocation of a workgroup takes the same branch
  if (line >= prm.outer * prm.inner) { return; }
  let n = prm.n;
  let half = n >> 1u;
  let q = line % prm.inner;
  let o = line / prm.inner;
  let base = o * n * prm.inner + q;
  for (var i = lid; i < n; i += LOCAL_WG) {
    ping[i] = src[base + i * prm.inner];
  }
  workgroupBarrier();
  var p = 1u;
  var log_p = 0u;
  var in_ping = true;
  loop {
    if (p >= n) { break; }
    for (var j = lid; j < half; j += LOCAL_WG) {
      let k = j & (p - 1u);
      var w = twiddle[k * (half >> log_p)];
      if (prm.inverse != 0u) { w.y = -w.y; }
      let d = ((j - k) << 1u) + k;
      if (in_ping) {
        let u0 = ping[j];
        let u1 = cmul_(ping[j + half], w);
        pong[d] = u0 + u1;
        pong[d + p] = u0 - u1;
      } else {
        let u0 = pong[j];
        let u1 = cmul_(pong[j + half], w);
        ping[d] = u0 + u1;
        ping[d + p] = u0 - u1;
      }
    }
    workgroupBarrier();
    in_ping = !in_ping;
    p = p << 1u;
    log_p += 1u;
  }
  for (var i = lid; i < n; i += LOCAL_WG) {
    let v = select(pong[i], ping[i], in_ping);
    dst[base + i * prm.inner] = v * prm.scale;
  }
}

@compute @workgroup_size(256)
fn embed(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = index(wid, nwg, lid);
  if (t >= prm.total) { return; }
  let x = t % prm.mw;
  let rest = t / prm.mw;
  let y = rest % prm.mh;
  let b = rest / prm.mh;
  var v = vec2f(0.0, 0.0);
  if (y >= prm.oy && x >= prm.ox && y - prm.oy < prm.h && x - prm.ox < prm.w) {
    let pix = (y - prm.oy) * prm.w + (x - prm.ox);
    if (prm.pairs == 0u) {
      v.x = re[b * prm.h * prm.w + pix];
    } else {
      // frame b = (pair j, plane c); images 2j and 2j + 1 of `nb` images
      let c = b % prm.per_b;
      let j = b / prm.per_b;
      let plane = prm.h * prm.w;
      v.x = re[((2u * j) * prm.per_b + c) * plane + pix];
      if (2u * j + 1u < prm.nb) {
        v.y = re[((2u * j + 1u) * prm.per_b + c) * plane + pix];
      }
    }
  }
  dst[t] = v;
}

@compute @workgroup_size(256)
fn extract(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = index(wid, nwg, lid);
  if (t >= prm.total) { return; }
  let x = t % prm.w;
  let rest = t / prm.w;
  let y = rest % prm.h;
  let b = rest / prm.h;
  if (prm.pairs == 0u) {
    re_out[t] = src[(b * prm.mh + y + prm.oy) * prm.mw + x + prm.ox].x;
  } else {
    // output image i = b / per_b, plane c: frame (i / 2, c), real part for even i
    let c = b % prm.per_b;
    let i = b / prm.per_b;
    let z = src[(((i / 2u) * prm.per_b + c) * prm.mh + y + prm.oy) * prm.mw + x + prm.ox];
    re_out[t] = select(z.x, z.y, (i & 1u) == 1u);
  }
}

@compute @workgroup_size(256)
fn cmul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = index(wid, nwg, lid);
  if (t >= prm.total) { return; }
  let b = t / prm.per_b;
  let i = t % prm.per_b;
  var o = other[(b % prm.nb) * prm.per_b + i];
  if (prm.inverse != 0u) { o.y = -o.y; }
  dst[t] = cmul_(src[t], o);
}

@compute @workgroup_size(256)
fn abs2(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = index(wid, nwg, lid);
  if (t >= prm.total) { return; }
  let z = src[t];
  re_out[t] = z.x * z.x + z.y * z.y;
}
