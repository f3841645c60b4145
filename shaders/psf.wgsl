// Point-spread functions from pupil spectra (src/data/degrade/psf.ts).
//
// One workgroup per PSF b; its threads walk the k×k kernel with a stride of 256, keep partial
// sums in a fixed order, reduce them with a fixed tree (deterministic), then divide their own
// entries by the total, so every kernel sums to 1.
//
// `crop`       kernel[b, i, j] = |F[b, (r − i) mod N, (r − j) mod N]|², r = (k − 1)/2, from the
//              unshifted spectrum F [B, N, N] (complex, interleaved). Indexing from r − i both
//              centres the zero frequency (the fftshift) and flips the PSF, so a correlation
//              with this kernel (what conv2d computes) is a convolution with the PSF.
//              Also in_crop[b] = (Σ of the crop before normalising) / energy[b], the fraction
//              of the PSF's energy inside the kernel (energy[b] = Σ|F|² over the whole grid).
// `resample`   kernel[b, i, j] = Σ_u Σ_v A[i, u]·src[b, u, v]·A[j, v] with A [k, n] given
//              (a box-filter downsampling matrix), then normalised the same way.

struct Params {
  n: u32,   // spectrum side (crop) or source kernel side (resample)
  k: u32,   // output kernel side
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> spec: array<vec2f>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> amat: array<f32>;
@group(0) @binding(4) var<storage, read_write> psf: array<f32>;
@group(0) @binding(5) var<storage, read> energy: array<f32>;
@group(0) @binding(6) var<storage, read_write> in_crop: array<f32>;

var<workgroup> partial: array<f32, 256>;

// Fixed-order tree sum of the workgroup's partial sums; every thread gets the total.
fn workgroup_total(lid: u32, mine: f32) -> f32 {
  partial[lid] = mine;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
    workgroupBarrier();
  }
  return partial[0];
}

fn normalise(b: u32, lid: u32, total: f32) {
  let kk = prm.k * prm.k;
  let inv = 1.0 / total;
  for (var idx = lid; idx < kk; idx += 256u) {
    psf[b * kk + idx] = psf[b * kk + idx] * inv;
  }
}

@compute @workgroup_size(256)
fn crop(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  let kk = prm.k * prm.k;
  let r = (prm.k - 1u) / 2u;
  var mine = 0.0;
  for (var idx = lid; idx < kk; idx += 256u) {
    let i = idx / prm.k;
    let j = idx % prm.k;
    let u = (r + prm.n - i) % prm.n;
    let v = (r + prm.n - j) % prm.n;
    let z = spec[(b * prm.n + u) * prm.n + v];
    let val = z.x * z.x + z.y * z.y;
    psf[b * kk + idx] = val;
    mine += val;
  }
  let total = workgroup_total(lid, mine);
  if (lid == 0u) { in_crop[b] = total / energy[b]; }
  normalise(b, lid, total);
}

@compute @workgroup_size(256)
fn resample(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  let kk = prm.k * prm.k;
  let n = prm.n;
  var mine = 0.0;
  for (var idx = lid; idx < kk; idx += 256u) {
    let i = idx / prm.k;
    let j = idx % prm.k;
    var acc = 0.0;
    for (var u = 0u; u < n; u++) {
      let a = amat[i * n + u];
      if (a == 0.0) { continue; }
      var row = 0.0;
      for (var v = 0u; v < n; v++) {
        row = fma(src[(b * n + u) * n + v], amat[j * n + v], row);
      }
      acc = fma(a, row, acc);
    }
    psf[b * kk + idx] = acc;
    mine += acc;
  }
  let total = workgroup_total(lid, mine);
  normalise(b, lid, total);
}
