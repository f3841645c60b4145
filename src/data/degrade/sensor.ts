/**
 * The sensor stage shared by both degradations (shaders/degrade.wgsl `sensor`): per image a
 * per-channel signal scale a, a per-channel output gain g, a gamma, a photon count at full
 * scale (Poisson shot noise) and a read-noise σ, with noise from the image's own Philox key:
 *
 *   y = clamp(g_c · (Poisson(a_c · x^gamma · photons) / photons + σ·z), 0, 1)
 *
 * photons = 0 turns shot noise off, σ = 0 read noise. Exact Poisson draws (inversion) below
 * λ = `poissonThreshold`, the normal approximation N(λ, λ) at and above it.
 */
import { fmtShape, tensor, type Tensor } from '../../autograd/tensor.js';
import { engine } from '../../autograd/engine.js';
import { alloc, assertFloat, grid1d } from '../../kernels/util.js';
import { seedKey } from './rng.js';

export interface SensorRow {
  /** Signal scale per channel (R, G, B). */
  scale: readonly [number, number, number];
  /** Output gain per channel. */
  gain: readonly [number, number, number];
  gamma: number;
  /** Photons at full scale (0: no shot noise). */
  photons: number;
  /** Read-noise standard deviation, in signal units before the gain (0: none). */
  readNoise: number;
  /** The image's seed (its Philox key). */
  seed: number;
}

/** Default λ below which Poisson draws are exact. */
export const POISSON_THRESHOLD = 32;

const STRIDE = 16;

/** Applies the sensor model to x [N, 3, H, W] with one row of parameters per image. */
export function sensor(x: Tensor, rows: readonly SensorRow[], poissonThreshold = POISSON_THRESHOLD): Tensor {
  assertFloat('sensor', x);
  if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`lrdif: sensor: expected images [N, 3, H, W], got ${fmtShape(x.shape)}`);
  if (rows.length !== x.shape[0]) throw new Error(`lrdif: sensor: ${rows.length} parameter rows for ${x.shape[0]} images ${fmtShape(x.shape)}`);
  if (engine.needsGrad([x])) throw new Error(`lrdif: sensor: ${x.describe()} requires a gradient; the degradations are not differentiable`);
  if (!(poissonThreshold >= 0 && poissonThreshold <= 1000)) throw new Error(`lrdif: sensor: poissonThreshold must be in [0, 1000], got ${poissonThreshold}`);
  const n = rows.length;
  const prm = new Float32Array(Math.max(1, n) * STRIDE);
  const keys = new Uint32Array(Math.max(1, n) * 2);
  rows.forEach((r, i) => {
    const vals = [...r.scale, ...r.gain, r.gamma, r.photons, r.readNoise];
    vals.forEach((v, j) => {
      if (!Number.isFinite(v)) throw new Error(`lrdif: sensor: image ${i}: non-finite parameter ${v}`);
      prm[i * STRIDE + j] = v;
    });
    if (r.gamma <= 0 || r.photons < 0 || r.photons > 1e9 || r.readNoise < 0) {
      throw new Error(`lrdif: sensor: image ${i}: need gamma > 0, photons in [0, 1e9], readNoise ≥ 0, got gamma ${r.gamma}, photons ${r.photons}, readNoise ${r.readNoise}`);
    }
    const [k0, k1] = seedKey(r.seed);
    keys[2 * i] = k0;
    keys[2 * i + 1] = k1;
  });
  const y = alloc(x.shape);
  if (x.size === 0) return y;
  const ctx = x.ctx;
  const tp = tensor(prm, [prm.length], 'f32', ctx);
  const tk = tensor(new Int32Array(keys.buffer), [keys.length], 'i32', ctx);
  ctx.dispatch(
    { shader: 'degrade', entry: 'sensor' },
    {
      bindings: { x: x.buffer, prm: tp.buffer, keys: tk.buffer, y: y.buffer },
      uniforms: { total: x.size, plane: x.shape[2] * x.shape[3], threshold: poissonThreshold },
      workgroups: grid1d(ctx, x.size),
    },
  );
  tp.dispose();
  tk.dispose();
  return y;
}
