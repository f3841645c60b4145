/**
 * The LRDif model in the self-test:
 * - training: the tiny config at 32×32 on 14 procedural faces (src/data/synthetic-faces.ts, two
 *   per class), stage 1 then stage 2 (initialised from stage 1), full-batch AdamW steps; each
 *   stage's loss must fall. The frozen encoders are replaced by fixed random CLIP embeddings and
 *   landmark taps (seeded), so no weights are needed; the images and labels are real inputs.
 * - inference against PyTorch: the model of test/golden/fixtures/lrdif.json (an independent
 *   float64 PyTorch implementation, test/golden/make_lrdif_fixtures.py) with its weights — the
 *   stage-1 and stage-2 forwards and the inference chain from ε, compared with the fixture's
 *   outputs by the model test's rule |a − e| ≤ 1e-4·(|e| + max|e|).
 * - an inference batch of the tiny config (the fused chain, the adapter's kernels) against its
 *   unfused composition (every kernel family on its portable path, the chain step by step).
 */
import { tensor, type Tensor } from '../autograd/tensor.js';
import { backward } from '../autograd/backward.js';
import { noGrad, tidy, engine } from '../autograd/engine.js';
import { Generator, randomNormal, randomUniform } from '../kernels/random.js';
import { softmax } from '../kernels/softmax.js';
import { AdamW } from '../optim/adamw.js';
import { LrdifModel } from '../models/lrdif/lrdif.js';
import { makeLrdifConfig, type LrdifConfig } from '../models/lrdif/config.js';
import { reverseChain } from '../models/lrdif/diffusion.js';
import type { LandmarkTaps } from '../models/lrdif/dilnetwork.js';
import { syntheticFace, SYNTHETIC_CLASSES } from '../data/synthetic-faces.js';
import { imagesToTensor } from '../io/image.js';
import { Comparisons, type Measurement, type SelftestCheck } from './check.js';

/** An array of the golden fixture: base64 float32 (little-endian). */
export interface GoldenArray {
  shape: number[];
  b64: string;
}

/** What the self-test reads of test/golden/fixtures/lrdif.json. */
export interface LrdifGoldenFixture {
  config: Partial<LrdifConfig>;
  state: Record<string, GoldenArray>;
  shared: Record<string, GoldenArray>;
  cases: Record<string, { inputs: Record<string, GoldenArray>; outputs: Record<string, GoldenArray>; overrides?: Partial<LrdifConfig> }>;
}

function decode(e: GoldenArray): Float32Array {
  const bin = atob(e.b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

const upload = (e: GoldenArray): Tensor => tensor(decode(e), e.shape);

/** The golden model's tolerance (test/lrdif-model.test.ts). */
const GOLDEN_TOL = 1e-4;

// ---------------------------------------------------------------- training

const FACES = 14;
const SIZE = 32;

interface TrainSession {
  model: LrdifModel;
  cfg: LrdifConfig;
  x: Tensor;
  taps: LandmarkTaps;
  eImg: Tensor;
  eTxt: Tensor;
  labels: Tensor;
  stage1Done: boolean;
  dispose(): void;
}

function tinyConfig(): LrdifConfig {
  return makeLrdifConfig('tiny', { imageSize: SIZE, window: SIZE / 16, numClasses: SYNTHETIC_CLASSES.length });
}

/** Unit-norm rows of a seeded normal draw (CLIP embeddings are unit vectors). */
async function unitRows(rows: number, dim: number, g: Generator): Promise<Tensor> {
  const t = randomNormal([rows, dim], { generator: g });
  const v = (await t.data()) as Float32Array;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[i * dim + j] ** 2;
    const n = Math.sqrt(s) || 1;
    for (let j = 0; j < dim; j++) v[i * dim + j] /= n;
  }
  t.dispose();
  return tensor(v, [rows, dim]);
}

async function newSession(): Promise<TrainSession> {
  const cfg = tinyConfig();
  const faces = Array.from({ length: FACES }, (_, i) => syntheticFace(1, i, SIZE).image);
  const labelsHost = Int32Array.from({ length: FACES }, (_, i) => i % SYNTHETIC_CLASSES.length);
  const g = new Generator(11);
  const x = imagesToTensor(faces);
  const taps: LandmarkTaps = [
    randomUniform([FACES, cfg.landmarkChannels[0], SIZE / 4, SIZE / 4], { generator: g }),
    randomUniform([FACES, cfg.landmarkChannels[1], SIZE / 8, SIZE / 8], { generator: g }),
    randomUniform([FACES, cfg.landmarkChannels[2], SIZE / 16, SIZE / 16], { generator: g }),
  ];
  const eImg = await unitRows(FACES, cfg.clipDim, g);
  const classText = await unitRows(SYNTHETIC_CLASSES.length, cfg.clipDim, g);
  const txtHost = (await classText.data()) as Float32Array;
  classText.dispose();
  const eTxtHost = new Float32Array(FACES * cfg.clipDim);
  for (let i = 0; i < FACES; i++) eTxtHost.set(txtHost.subarray(labelsHost[i] * cfg.clipDim, (labelsHost[i] + 1) * cfg.clipDim), i * cfg.clipDim);
  const eTxt = tensor(eTxtHost, [FACES, cfg.clipDim]);
  const labels = tensor(labelsHost, [FACES], 'i32');
  const model = new LrdifModel(cfg, { seed: 0 });
  return {
    model,
    cfg,
    x,
    taps,
    eImg,
    eTxt,
    labels,
    stage1Done: false,
    dispose() {
      for (const t of [x, ...taps, eImg, eTxt, labels]) t.dispose();
      model.dispose();
    },
  };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** Loss must fall: the mean of the last three steps below `factor` × the mean of the first three. */
function lossFalls(losses: number[], factor: number): Measurement {
  const first = mean(losses.slice(0, 3));
  const last = mean(losses.slice(-3));
  const ratio = last / first;
  const finite = losses.every(Number.isFinite);
  return {
    maxError: Math.round(ratio * 1e4) / 1e4,
    ratio: finite ? ratio / factor : Infinity,
    tolerance: `last/first < ${factor}`,
    detail: `loss ${first.toFixed(4)} → ${last.toFixed(4)} over ${losses.length} steps (means of the first and last three)${finite ? '' : '; a loss was not finite'}`,
  };
}

async function trainStage(s: TrainSession, stage: 1 | 2, steps: number): Promise<number[]> {
  const { model } = s;
  model.setStage(stage);
  const opt = new AdamW(model.stageParameters(stage), { lr: 3e-3, weightDecay: 1e-4 });
  // stage 2: one fixed ε for every step, so each step sees the same objective and the loss
  // shows the learning, not the draw
  const noise = stage === 2 ? randomNormal([FACES, s.cfg.priorDim], { generator: new Generator(100) }) : null;
  const losses: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const loss = tidy(() => {
        if (stage === 1) return model.stage1Loss(model.stage1Forward({ x112: s.x, taps: s.taps, eImg: s.eImg, eTxt: s.eTxt }), s.labels).total;
        return model.stage2Loss(model.stage2Forward({ x112: s.x, taps: s.taps, eImg: s.eImg, eTxt: s.eTxt, noise: noise! }), s.labels).total;
      });
      backward(loss);
      opt.step();
      opt.zeroGrad();
      losses.push(await loss.item());
      loss.dispose();
    }
  } finally {
    noise?.dispose();
    opt.dispose();
    engine.clearTape();
  }
  return losses;
}

function trainingChecks(): SelftestCheck[] {
  let session: TrainSession | null = null;
  const steps1 = 16;
  const steps2 = 16;
  const stage1 = async (): Promise<number[]> => {
    session ??= await newSession();
    const losses = await trainStage(session, 1, steps1);
    session.stage1Done = true;
    return losses;
  };
  const shapes = `tiny, ${FACES} synthetic faces ${SIZE}×${SIZE}, batch ${FACES}`;
  const dispose = () => {
    session?.dispose();
    session = null;
  };
  return [
    {
      op: 'lrdif',
      kind: 'training',
      shapes: `${shapes}, stage 1, ${steps1} steps`,
      variant: 'default',
      quick: true,
      async run() {
        return lossFalls(await stage1(), 0.7);
      },
      dispose,
    },
    {
      op: 'lrdif',
      kind: 'training',
      shapes: `${shapes}, stage 2 (from stage 1), ${steps2} steps`,
      variant: 'default',
      quick: true,
      async run() {
        if (!session?.stage1Done) await stage1();
        return lossFalls(await trainStage(session!, 2, steps2), 0.8);
      },
      dispose,
    },
  ];
}

// ---------------------------------------------------------------- inference

/** Every kernel family with a subgroup path on its portable one. */
const PORTABLE = { matmul: { path: 'portable' }, channelAttention: { path: 'portable' }, windowAttention: { path: 'portable' }, ddpm: { path: 'portable' } } as const;

function inferenceVsUnfused(): SelftestCheck {
  const B = 8;
  return {
    op: 'lrdif',
    kind: 'inference',
    shapes: `tiny ${SIZE}×${SIZE}, batch ${B}: probabilities`,
    variant: 'fused chain vs unfused, portable',
    // every model kernel compiled again on its portable path: the full run only
    quick: false,
    async run() {
      const cfg = tinyConfig();
      const model = new LrdifModel(cfg, { seed: 3 });
      const g = new Generator(5);
      const x = randomUniform([B, 3, SIZE, SIZE], { generator: g });
      const taps: LandmarkTaps = [
        randomUniform([B, cfg.landmarkChannels[0], SIZE / 4, SIZE / 4], { generator: g }),
        randomUniform([B, cfg.landmarkChannels[1], SIZE / 8, SIZE / 8], { generator: g }),
        randomUniform([B, cfg.landmarkChannels[2], SIZE / 16, SIZE / 16], { generator: g }),
      ];
      const eImg = randomNormal([B, cfg.clipDim], { generator: g });
      const noise = randomNormal([B, cfg.priorDim], { generator: g });
      const ctx = engine.ctx;
      try {
        const fused = model.predict({ x112: x, taps, eImg, noise });
        const got = (await fused.data()) as Float32Array;
        fused.dispose();
        const want = await ctx.withTuning(PORTABLE, async () => {
          const p = noGrad(() =>
            tidy(() => {
              const c = model.conditionS2(eImg);
              const z = reverseChain(model.denoiser, noise, c, model.schedule);
              return softmax(model.udcformer.forward(x, taps, z), -1);
            }),
          );
          const v = (await p.data()) as Float32Array;
          p.dispose();
          return v;
        });
        return new Comparisons().add('probabilities', got, want, 1e-4, 1e-5).result();
      } finally {
        for (const t of [x, ...taps, eImg, noise]) t.dispose();
        model.dispose();
      }
    },
  };
}

function goldenChecks(golden: LrdifGoldenFixture | null): SelftestCheck[] {
  const shapes = (what: string) => `golden config (32×32, 2×2 windows), batch 2: ${what}`;
  const check = (what: string, quick: boolean, body: (cmp: Comparisons, fx: LrdifGoldenFixture) => Promise<void>): SelftestCheck => ({
    op: 'lrdif',
    kind: 'inference',
    shapes: shapes(what),
    variant: 'default vs PyTorch',
    quick,
    async run() {
      if (!golden) {
        return { maxError: NaN, ratio: NaN, tolerance: '-', skipped: 'the golden fixture test/golden/fixtures/lrdif.json is not available here' };
      }
      const cmp = new Comparisons();
      await body(cmp, golden);
      return cmp.result();
    },
  });
  /** A model of the fixture's config (plus overrides) with the fixture's weights. */
  const fixtureModel = (fx: LrdifGoldenFixture, overrides: Partial<LrdifConfig> = {}) => {
    const m = new LrdifModel(makeLrdifConfig(makeLrdifConfig('tiny', fx.config), overrides), { seed: 7 });
    const state = new Map(Object.entries(fx.state).map(([k, e]) => [k, upload(e)]));
    try {
      m.loadStateDict(state);
    } finally {
      for (const t of state.values()) t.dispose();
    }
    return m;
  };
  const sharedInputs = (fx: LrdifGoldenFixture) => ({ x: upload(fx.shared.x), taps: [upload(fx.shared.tap1), upload(fx.shared.tap2), upload(fx.shared.tap3)] as LandmarkTaps });
  const read = async (t: Tensor) => (await t.data()) as Float32Array;
  return [
    check('stage-1 forward (logits, Z)', false, async (cmp, fx) => {
      const c = fx.cases.stage1;
      const m = fixtureModel(fx);
      const { x, taps } = sharedInputs(fx);
      const [eImg, eTxt] = [upload(c.inputs.eImg), upload(c.inputs.eTxt)];
      try {
        const out = noGrad(() => m.stage1Forward({ x112: x, taps, eImg, eTxt }));
        cmp.addScaled('logits', await read(out.logits), decode(c.outputs.logits), GOLDEN_TOL);
        cmp.addScaled('z', await read(out.z), decode(c.outputs.z), GOLDEN_TOL);
        out.logits.dispose();
        out.z.dispose();
      } finally {
        for (const t of [x, ...taps, eImg, eTxt]) t.dispose();
        m.dispose();
      }
    }),
    check('stage-2 forward (insert-noise chain, logits, Ẑ₀)', false, async (cmp, fx) => {
      const c = fx.cases.stage2;
      const m = fixtureModel(fx, c.overrides ?? {});
      const { x, taps } = sharedInputs(fx);
      const [eImg, eTxt, noise] = [upload(c.inputs.eImg), upload(c.inputs.eTxt), upload(c.inputs.noise)];
      try {
        const out = noGrad(() => m.stage2Forward({ x112: x, taps, eImg, eTxt, noise }));
        cmp.addScaled('logits', await read(out.logits), decode(c.outputs.logits), GOLDEN_TOL);
        cmp.addScaled('zHat', await read(out.zHat), decode(c.outputs.zHat), GOLDEN_TOL);
        for (const t of [out.logits, out.zHat, out.c, out.zTarget]) t?.dispose();
      } finally {
        for (const t of [x, ...taps, eImg, eTxt, noise]) t.dispose();
        m.dispose();
      }
    }),
    check('inference chain from ε (fused) and the UDCformer', true, async (cmp, fx) => {
      const c = fx.cases.chainNoInsert;
      const m = fixtureModel(fx, { insertNoise: false });
      const [eImg, noise] = [upload(c.inputs.eImg), upload(c.inputs.noise)];
      const u = fx.cases.udcformer;
      const z = upload(u.inputs.z);
      const { x, taps } = sharedInputs(fx);
      try {
        const prior = noGrad(() => m.estimatePrior(eImg, { noise }));
        cmp.addScaled('Ẑ₀', await read(prior.zHat), decode(c.outputs.zHat), GOLDEN_TOL);
        prior.zHat.dispose();
        prior.c.dispose();
        const logits = noGrad(() => m.udcformer.forward(x, taps, z));
        cmp.addScaled('logits', await read(logits), decode(u.outputs.logits), GOLDEN_TOL);
        logits.dispose();
      } finally {
        for (const t of [eImg, noise, z, x, ...taps]) t.dispose();
        m.dispose();
      }
    }),
  ];
}

export function lrdifChecks(golden: LrdifGoldenFixture | null): SelftestCheck[] {
  return [...trainingChecks(), inferenceVsUnfused(), ...goldenChecks(golden)];
}
