/**
 * The stage-2 levers of issues 10 and 17 (config fields; the paper's values stay the defaults):
 * - inputNorm 'exposure': per-image exposure normalisation against a float64 reference (awkward
 *   shapes, a flat image, clamping), and the pipeline applying it before the encoders and the
 *   UDCformer;
 * - classBalance: the class weights against their formulas, and the weighted cross-entropy of
 *   both stages against a float64 reference (value and gradient);
 * - imageEncoder 'faceapi-expression': FPEN widths follow the encoder's 256-d e_img, shape
 *   errors name the encoder; old configs (without the new fields) read as the paper's.
 * (The face-api embedder's features against face-api itself: test/faceapi.test.ts.)
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose, randArray, rng } from './helpers/ref.js';
import { tensor, tidy, noGrad, backward, type Tensor } from '../src/node.js';
import {
  LrdifModel,
  makeLrdifConfig,
  validateLrdifConfig,
  withConfigDefaults,
  classBalanceWeights,
  lrdifImageDim,
  lrdifConfigs,
  type LrdifConfig,
} from '../src/models/lrdif/index.js';
import { exposureNormalize, normalizeInput, EXPOSURE_TARGET_MEAN, EXPOSURE_TARGET_STD, EXPOSURE_EPS } from '../src/models/lrdif/input-norm.js';
import { imageTransformKey, modelImages, MODEL_RESIZE, type PipelineSpec } from '../src/train/pipeline.js';

/** float64 reference of exposureNormalize: per image over C·H·W. */
function exposureRef(x: Float64Array, shape: number[], m0 = EXPOSURE_TARGET_MEAN, s0 = EXPOSURE_TARGET_STD, eps = EXPOSURE_EPS): Float64Array {
  const [B] = shape;
  const per = x.length / B;
  const out = new Float64Array(x.length);
  for (let b = 0; b < B; b++) {
    let mu = 0;
    for (let i = 0; i < per; i++) mu += x[b * per + i];
    mu /= per;
    let v = 0;
    for (let i = 0; i < per; i++) v += (x[b * per + i] - mu) ** 2;
    v /= per;
    const inv = 1 / Math.sqrt(v + eps * eps);
    for (let i = 0; i < per; i++) out[b * per + i] = Math.min(1, Math.max(0, m0 + s0 * (x[b * per + i] - mu) * inv));
  }
  return out;
}

async function host(t: Tensor): Promise<Float32Array> {
  return new Float32Array((await t.data()) as Float32Array);
}

describe('inputNorm: exposure normalisation', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('matches the float64 reference on dark, bright and mixed images of awkward shapes', async () => {
    for (const [shape, lo, hi, seed] of [
      [[3, 3, 7, 5], 0, 0.05, 1],
      [[2, 3, 17, 13], 0.3, 1, 2],
      [[1, 1, 9, 1], 0, 1, 3],
      [[5, 3, 4, 4], 0.001, 0.2, 4],
    ] as Array<[number[], number, number, number]>) {
      const x = randArray(shape, seed, lo, hi);
      const t = tensor(Float32Array.from(x), shape);
      const y = exposureNormalize(t);
      expect(y.shape).toEqual(shape);
      expectClose(await host(y), exposureRef(x, shape), 1e-4, 1e-5, `exposureNormalize ${shape.join('×')} in [${lo}, ${hi})`);
      t.dispose();
      y.dispose();
    }
  });

  it('gives a dark image the target mean and contrast, and leaves a flat image flat at the target mean', async () => {
    // an image with values in [0, 0.04] (far from the clamp bounds after normalisation, apart from a few)
    const shape = [2, 3, 16, 16];
    const x = randArray(shape, 9, 0, 0.04);
    x.fill(0.02, x.length / 2); // image 1: flat
    const t = tensor(Float32Array.from(x), shape);
    const y = await host(exposureNormalize(t));
    const per = x.length / 2;
    const img0 = Array.from(y.subarray(0, per));
    const mean0 = img0.reduce((a, b) => a + b, 0) / per;
    const std0 = Math.sqrt(img0.reduce((a, b) => a + (b - mean0) ** 2, 0) / per);
    expect(mean0).toBeCloseTo(EXPOSURE_TARGET_MEAN, 2);
    expect(std0).toBeCloseTo(EXPOSURE_TARGET_STD, 2);
    for (const v of y.subarray(per)) expect(Math.abs(v - EXPOSURE_TARGET_MEAN)).toBeLessThan(1e-3);
    t.dispose();
  });

  it("'none' is the identity (the same tensor), an unknown mode and a wrong rank are errors", () => {
    const t = tensor(new Float32Array(12), [1, 3, 2, 2]);
    expect(normalizeInput(t, 'none')).toBe(t);
    expect(() => normalizeInput(t, 'gamma' as never)).toThrow(/unknown input normalisation "gamma"/);
    const flat = tensor(new Float32Array(12), [3, 4]);
    expect(() => exposureNormalize(flat)).toThrow(/exposureNormalize: images must be \[batch, channels, height, width\], got .*\[3, ?4\]/);
    t.dispose();
    flat.dispose();
  });

  it('the pipeline applies it (modelImages) and keys the embedding cache by it, without changing the paper pipeline keys', async () => {
    const spec: PipelineSpec = { imageSize: 32, resize: MODEL_RESIZE, degrade: null, augment: null, seed: 0 };
    const x = randArray([2, 3, 5, 5], 11, 0, 0.1);
    const t = tensor(Float32Array.from(x), [2, 3, 5, 5]);
    expect(modelImages(t, spec)).toBe(t);
    const y = modelImages(t, { ...spec, inputNorm: 'exposure' });
    expectClose(await host(y), exposureRef(x, [2, 3, 5, 5]), 1e-4, 1e-5, 'modelImages exposure');
    expect(imageTransformKey({ ...spec, inputNorm: 'none' }, 3)).toBe(imageTransformKey(spec, 3));
    expect(imageTransformKey(spec, 3)).toBe('{"size":32,"resize":{"mode":"bilinear","antialias":true},"degrade":null}');
    expect(imageTransformKey({ ...spec, inputNorm: 'exposure' }, 3)).not.toBe(imageTransformKey(spec, 3));
    t.dispose();
    y.dispose();
  });
});

describe('classBalance: weighted cross-entropy', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('weights follow their formulas; classes without images get 0; none gives null', () => {
    const counts = [201, 7, 200, 16, 0, 719, 214, 294];
    const N = counts.reduce((a, b) => a + b, 0);
    const K = counts.filter((n) => n > 0).length;
    expect(classBalanceWeights('none', counts)).toBeNull();
    const inv = classBalanceWeights('inverse', counts)!;
    counts.forEach((n, k) => expect(inv[k]).toBeCloseTo(n ? N / (K * n) : 0, 4));
    const sq = classBalanceWeights('sqrtInverse', counts)!;
    const z = counts.reduce((a, n) => a + (n ? Math.sqrt(n) : 0), 0); // Σ n·(1/√n)
    counts.forEach((n, k) => expect(sq[k]).toBeCloseTo(n ? N / (Math.sqrt(n) * z) : 0, 4));
    expect(counts.reduce((a, n, k) => a + n * sq[k], 0)).toBeCloseTo(N, 2);
    expect(() => classBalanceWeights('inverse', [0, 0])).toThrow(/no training images/);
    expect(() => classBalanceWeights('inverse', [1, -2])).toThrow(/counts must be integers ≥ 0/);
  });

  it('stage-1 and stage-2 CE with class weights = Σ w_y·ℓ / Σ w_y (float64), with its gradient', async () => {
    const K = 4;
    const B = 6;
    const logits = randArray([B, K], 21, -2, 2);
    const labels = [0, 3, 3, 1, 3, 2];
    const w = [0.5, 2, 1.25, 0.75];
    // reference: per-sample CE, weighted mean; d/dlogit = w_y (p − onehot) / Σ w_y
    const ref: number[] = [];
    const grad = new Float64Array(B * K);
    const W = labels.reduce((a, y) => a + w[y], 0);
    for (let i = 0; i < B; i++) {
      const row = Array.from(logits.subarray(i * K, (i + 1) * K));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      ref.push(lse - row[labels[i]]);
      row.forEach((v, k) => (grad[i * K + k] = (w[labels[i]] * (Math.exp(v - lse) - (k === labels[i] ? 1 : 0))) / W));
    }
    const loss = ref.reduce((a, l, i) => a + w[labels[i]] * l, 0) / W;
    // λ_kl = 0: the stage-2 loss is its CE alone here
    const model = new LrdifModel(makeLrdifConfig('tiny', { numClasses: K, imageSize: 32, window: 2, classBalance: 'inverse', lambdaKl: 0 }), { seed: 1 });
    const cw = tensor(Float32Array.from(w), [K]);
    const lab = tensor(Int32Array.from(labels), [B], 'i32');
    for (const stage of [1, 2] as const) {
      const lg = tensor(Float32Array.from(logits), [B, K]);
      lg.requiresGrad = true;
      const l =
        stage === 1
          ? model.stage1Loss({ logits: lg }, lab, cw)
          : tidy(() => {
              const zHat = tensor(new Float32Array(B * 32), [B, 32]);
              return model.stage2Loss({ logits: lg, zHat, zTarget: null }, lab, null, cw);
            });
      expect(await l.total.item()).toBeCloseTo(loss, 5);
      backward(l.total);
      expectClose(await host(lg.grad!), grad, 1e-4, 1e-6, `stage ${stage} weighted CE gradient`);
      lg.grad!.dispose();
      lg.dispose();
      l.total.dispose();
      l.ce.dispose();
    }
    // no weights: the plain mean
    const lg = tensor(Float32Array.from(logits), [B, K]);
    const plain = model.stage1Loss({ logits: lg }, lab);
    expect(await plain.total.item()).toBeCloseTo(ref.reduce((a, b) => a + b, 0) / B, 5);
    // the model's weights for counts: the config's scheme, checked against the count of classes
    const mw = model.classWeights([1, 2, 3, 4])!;
    expectClose(await host(mw), classBalanceWeights('inverse', [1, 2, 3, 4])!, 1e-6, 1e-7, 'model class weights');
    expect(() => model.classWeights([1, 2])).toThrow(/2 class counts for 4 classes/);
    expect(() => model.stage1Loss({ logits: lg }, lab, tensor(new Float32Array(3), [3]))).toThrow(/class weights/);
    for (const t of [lg, plain.total, mw, cw, lab]) t.dispose();
    model.dispose();
  });
});

describe('imageEncoder and old configs', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('the face-api expression encoder sets the FPEN input widths (256-d e_img, CLIP e_txt)', () => {
    const cfg = makeLrdifConfig('tiny', { numClasses: 7, imageSize: 32, window: 2, imageEncoder: 'faceapi-expression' });
    expect(lrdifImageDim(cfg)).toBe(256);
    expect(lrdifImageDim(lrdifConfigs.tiny)).toBe(lrdifConfigs.tiny.clipDim);
    const m = new LrdifModel(cfg, { seed: 0 });
    expect(m.fpenS1.inFeatures).toBe(cfg.clipDim + 256);
    expect(m.fpenS2.inFeatures).toBe(256);
    const eTxt = tensor(new Float32Array(2 * cfg.clipDim), [2, cfg.clipDim]);
    const eImgWrong = tensor(new Float32Array(2 * cfg.clipDim), [2, cfg.clipDim]);
    expect(() => m.priorS1(eTxt, eImgWrong)).toThrow(/face-api expression image embeddings/);
    const eImg = tensor(new Float32Array(2 * 256), [2, 256]);
    const z = noGrad(() => m.priorS1(eTxt, eImg));
    expect(z.shape).toEqual([2, cfg.priorDim]);
    for (const t of [eTxt, eImgWrong, eImg, z]) t.dispose();
    m.dispose();
  });

  it('a config without the new fields (an older checkpoint) reads as the paper pipeline; bad values name the field', () => {
    const old = { ...lrdifConfigs.tiny } as Partial<LrdifConfig>;
    delete old.inputNorm;
    delete old.imageEncoder;
    delete old.classBalance;
    expect(() => validateLrdifConfig(old as LrdifConfig)).toThrow(/LrdifConfig\.inputNorm: is missing/);
    const c = validateLrdifConfig(withConfigDefaults(old as LrdifConfig));
    expect([c.inputNorm, c.imageEncoder, c.classBalance]).toEqual(['none', 'clip', 'none']);
    expect(lrdifConfigs.reference.inputNorm).toBe('none');
    expect(() => makeLrdifConfig('tiny', { inputNorm: 'gamma' as never })).toThrow(/LrdifConfig\.inputNorm: must be one of 'none', 'exposure'/);
    expect(() => makeLrdifConfig('tiny', { imageEncoder: 'vgg' as never })).toThrow(/LrdifConfig\.imageEncoder: must be one of 'clip', 'faceapi-expression'/);
    expect(() => makeLrdifConfig('tiny', { classBalance: 'x' as never })).toThrow(/LrdifConfig\.classBalance: must be one of/);
  });
});

void rng;
