/**
 * Stage-2 diagnostics (issue 17): what the inputs, the encoders, FPEN_S2, the denoiser and the
 * UDCformer see and do in the first stage-2 steps from a stage-1 checkpoint.
 *
 *   npx tsx scripts/diagnose-stage2.ts --ckpt <stage-1 best.safetensors> --data <folder dataset>
 *       [--steps 60] [--lr 1e-3] [--batch 32] [--set field=value …] [--cache dir]
 *
 * Prints, on the first training batches:
 * - input statistics: the [0, 1] images' mean and std, and after the model's input normalisation
 *   the mean, the std and the between-image share ("img-var share": the variance of a pixel
 *   across images over the total variance);
 * - e_img, c = FPEN_S2(e_img), Z (stage 1, true labels), Ẑ₀: mean pairwise cosine and the
 *   between-image std relative to the RMS;
 * - the stage-1 model's reliance on the label: its accuracy with Z of the true label, of a fixed
 *   label, and of the mean Z (if it ignores pixels, the fixed label's accuracy is that class's share);
 * - per training step: CE, KL, the gradient norm of each module group, the between-image share
 *   of the activations of each UDCformer stage and of the logits.
 */
import * as path from 'node:path';
import { initNode } from '../src/node.js';
import { noGrad, tidy, engine } from '../src/autograd/engine.js';
import { tensor, type Tensor } from '../src/autograd/tensor.js';
import { backward } from '../src/autograd/backward.js';
import { embedding } from '../src/kernels/indexing.js';
import { DataLoader } from '../src/data/loader.js';
import { AdamW } from '../src/optim/adamw.js';
import { LrdifModel } from '../src/models/lrdif/lrdif.js';
import { validateLrdifConfig, type LrdifConfig } from '../src/models/lrdif/config.js';
import { readModelState } from '../src/train/checkpoint.js';
import { openCheckpoint, pipelineSpec } from '../src/train/run-node.js';
import { openEncoders, Session } from '../src/train/session-node.js';
import { assembleBatch, trainNoise, LandmarkTapCache, type ModelBatch } from '../src/train/pipeline.js';

const args = process.argv.slice(2);
const opt = (k: string, d?: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const sets: Record<string, unknown> = {};
args.forEach((a, i) => {
  if (a === '--set') {
    const [k, v] = args[i + 1].split('=');
    sets[k] = v === 'true' ? true : v === 'false' ? false : Number.isNaN(Number(v)) ? v : Number(v);
  }
});
const ckpt = opt('ckpt')!;
const data = opt('data')!;
const steps = Number(opt('steps', '60'));
const lr = Number(opt('lr', '1e-3'));
const batch = Number(opt('batch', '32'));
const cache = opt('cache', path.join(process.env.HOME ?? '/tmp', '.cache/lrdif/embeddings'))!;

const f = (v: number, d = 3) => (Number.isFinite(v) ? v.toPrecision(d) : String(v));

/** Mean and std of all values, and the share of the variance that is between images (axis 0). */
function stats(v: Float32Array, B: number): { mean: number; std: number; rms: number; between: number } {
  const per = v.length / B;
  let s = 0;
  let s2 = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
  }
  const mean = s / v.length;
  const total = s2 / v.length - mean * mean;
  // per position: variance across images
  let between = 0;
  for (let j = 0; j < per; j++) {
    let a = 0;
    let a2 = 0;
    for (let b = 0; b < B; b++) {
      const x = v[b * per + j];
      a += x;
      a2 += x * x;
    }
    between += a2 / B - (a / B) ** 2;
  }
  between /= per;
  return { mean, std: Math.sqrt(Math.max(0, total)), rms: Math.sqrt(s2 / v.length), between: total > 0 ? between / total : 0 };
}

function meanCos(v: Float32Array, B: number): number {
  const P = v.length / B;
  const n = (i: number) => Math.sqrt(v.subarray(i * P, (i + 1) * P).reduce((a, x) => a + x * x, 0));
  let s = 0;
  let k = 0;
  for (let i = 0; i < B; i++)
    for (let j = i + 1; j < B; j++) {
      let d = 0;
      for (let p = 0; p < P; p++) d += v[i * P + p] * v[j * P + p];
      s += d / (n(i) * n(j) + 1e-12);
      k++;
    }
  return s / k;
}

async function host(t: Tensor): Promise<Float32Array> {
  return new Float32Array((await t.data()) as Float32Array);
}

async function describe(name: string, t: Tensor, withCos = false): Promise<string> {
  const v = await host(t);
  const B = t.shape[0];
  const s = stats(v, B);
  return `${name.padEnd(22)} mean ${f(s.mean).padStart(9)} std ${f(s.std).padStart(9)} rms ${f(s.rms).padStart(9)} img-var share ${f(s.between).padStart(7)}${withCos ? ` mean cos ${f(meanCos(v, B))}` : ''}`;
}

const ctx = await initNode();
const log = (m: string) => console.log(m);
const enc = await openEncoders({ path: null, seed: 0 }, cache, log);
const session = await Session.open({ dir: data, format: 'folder', splitSeed: 0, testFraction: 0.2 }, enc, log, log);
const { reader, meta } = openCheckpoint(ckpt);
const cfg: LrdifConfig = validateLrdifConfig({ ...meta.config, parameterisation: 'x0', timesteps: 4, ...(sets as Partial<LrdifConfig>) });
const state = readModelState(reader);
reader.close();
const model = new LrdifModel(cfg, { seed: 0 });
model.loadStage1State(state);
for (const t of state.values()) t.dispose();
const spec = pipelineSpec({ degradeOnTheFly: false, degradeConfig: {}, degradeSeed: 0, augment: false, seed: 0 }, cfg);
const trainSplit = session.split('train');
const table = await session.table('train', spec);
const text = engine.keep(tensor(await session.textTable(session.dataset.classNames), [cfg.numClasses, enc.projectionDim]));
const K = cfg.numClasses;
const taps = new LandmarkTapCache();
const loader = new DataLoader(trainSplit.dataset, { batchSize: batch, size: spec.imageSize, shuffle: true, seed: 0, augment: false, resize: spec.resize, prefetch: false });

// ---------------------------------------------------------------- static statistics on one batch of 64
{
  const big = new DataLoader(trainSplit.dataset, { batchSize: 64, size: spec.imageSize, shuffle: true, seed: 1, augment: false, resize: spec.resize, prefetch: false });
  for await (const b of big.epoch(0)) {
    const mb = await assembleBatch(b, trainSplit, spec, enc, table, null, taps);
    console.log(`\n== inputs and priors (64 training images; config ${JSON.stringify(sets)}) ==`);
    console.log(await describe('image [0,1]', b.images));
    console.log(await describe('x112 (model input)', mb.x112));
    for (let k = 0; k < 3; k++) console.log(await describe(`landmark tap ${k}`, mb.taps[k]));
    console.log(await describe('e_img', mb.eImg, true));
    model.eval();
    const r = noGrad(() =>
      tidy(() => {
        const eTxt = embedding(text, mb.labels);
        const z = model.priorS1(eTxt, mb.eImg);
        const c = model.conditionS2(mb.eImg);
        const noise = tensor(trainNoise(spec, 0, mb.global, cfg.priorDim), [mb.size, cfg.priorDim]);
        const zHatTrain = model.estimatePrior(mb.eImg, { zTarget: z, noise }).zHat;
        const zHatInf = model.estimatePrior(mb.eImg, { noise }).zHat;
        const logitsTrue = model.udcformer.forward(mb.x112, mb.taps, z);
        return { z, c, zHatTrain, zHatInf, logitsTrue };
      }),
    );
    console.log(await describe('Z (stage 1, true y)', r.z, true));
    console.log(await describe('c = FPEN_S2(e_img)', r.c, true));
    console.log(await describe('Ẑ₀ (train chain)', r.zHatTrain, true));
    console.log(await describe('Ẑ₀ (inference chain)', r.zHatInf, true));
    const labels = mb.labelValues;
    const acc = async (logits: Tensor) => {
      const v = await host(logits);
      let ok = 0;
      const counts = new Array(K).fill(0);
      for (let i = 0; i < labels.length; i++) {
        let m = 0;
        for (let k = 1; k < K; k++) if (v[i * K + k] > v[i * K + m]) m = k;
        if (m === labels[i]) ok++;
        counts[m]++;
      }
      return `${f((100 * ok) / labels.length)} % (predicted per class ${counts.join(' ')})`;
    };
    console.log(`\nstage-1 UDCformer, Z of the true label: ${await acc(r.logitsTrue)}`);
    console.log(`labels in this batch per class: ${Array.from({ length: K }, (_, k) => labels.filter((l) => l === k).length).join(' ')}`);
    for (const fixed of [0, 4, 5]) {
      const lg = noGrad(() =>
        tidy(() => model.udcformer.forward(mb.x112, mb.taps, model.priorS1(embedding(text, tensor(new Int32Array(mb.size).fill(fixed), [mb.size], 'i32')), mb.eImg))),
      );
      console.log(`stage-1 UDCformer, Z of label ${session.dataset.classNames[fixed]} for every image: ${await acc(lg)}`);
      lg.dispose();
    }
    const lgInf = noGrad(() => tidy(() => model.udcformer.forward(mb.x112, mb.taps, r.zHatInf)));
    console.log(`stage-1 UDCformer with the fresh stage-2 prior Ẑ₀: ${await acc(lgInf)}`);
    lgInf.dispose();
    // pixel sensitivity: activations with Z of the true label
    const dt = noGrad(() => model.udcformer.dt.features(mb.x112, r.z));
    const stem = noGrad(() => model.udcformer.dt.stem.forward(mb.x112));
    console.log(await describe('stem out', stem));
    for (const k of ['f1', 'f2', 'f3'] as const) console.log(await describe(`DT ${k} (true Z)`, dt[k]));
    const dtFixed = noGrad(() =>
      tidy(() => model.udcformer.dt.features(mb.x112, model.priorS1(embedding(text, tensor(new Int32Array(mb.size).fill(4), [mb.size], 'i32')), mb.eImg))),
    );
    for (const k of ['f1', 'f2', 'f3'] as const) console.log(await describe(`DT ${k} (one label's Z)`, dtFixed[k]));
    for (const t of [stem, dt.f1, dt.f2, dt.f3, dtFixed.f1, dtFixed.f2, dtFixed.f3, r.z, r.c, r.zHatTrain, r.zHatInf, r.logitsTrue]) t.dispose();
    mb.dispose();
    b.dispose();
    break;
  }
}

// ---------------------------------------------------------------- training steps
model.setStage(2);
model.train();
const params = model.stageParameters(2);
const adam = new AdamW(params, { lr, weightDecay: 1e-4 });
const groups: Array<[string, string[]]> = [
  ['fpenS2', ['fpenS2.']],
  ['denoiser', ['denoiser.']],
  ['dt.stem', ['udcformer.dt.stem.']],
  ['dt.enc1', ['udcformer.dt.encoder1.']],
  ['dt.rest', ['udcformer.dt.']],
  ['dt.mod(W·Z)', []],
  ['dil', ['udcformer.dil.']],
  ['fusion', ['udcformer.fusion.']],
  ['classifier', ['udcformer.classifier.']],
];
console.log(`\n== ${steps} stage-2 steps, AdamW lr ${lr}, batch ${batch} (x0, T = ${cfg.timesteps}) ==`);
console.log(`step   CE      KL     acc  | grad norms: ${groups.map(([g]) => g).join(' | ')} | logits img-var share, zHat img-var share`);
let step = 0;
let epoch = 0;
outer: for (;;) {
  for await (const b of loader.epoch(epoch)) {
    let mb: ModelBatch | null = null;
    try {
      mb = await assembleBatch(b, trainSplit, spec, enc, table, epoch, taps);
      const cur = mb;
      const out = tidy(() => {
        const eTxt = embedding(text, cur.labels);
        const noise = tensor(trainNoise(spec, epoch, cur.global, cfg.priorDim), [cur.size, cfg.priorDim]);
        const o = model.stage2Forward({ x112: cur.x112, taps: cur.taps, eImg: cur.eImg, eTxt, noise });
        const l = model.stage2Loss(o, cur.labels);
        return { total: l.total, ce: l.ce, kl: l.kl, logits: o.logits, zHat: o.zHat };
      });
      backward(out.total);
      const norms = new Map<string, number>();
      for (const [name, p] of params) {
        if (!p.grad) continue;
        const g = await host(p.grad);
        const s = g.reduce((a, x) => a + x * x, 0);
        let grp = groups.find(([, pre]) => pre.some((q) => name.startsWith(q)))![0];
        if (name.includes('.mod') || name.includes('kernel.weight')) grp = 'dt.mod(W·Z)';
        norms.set(grp, (norms.get(grp) ?? 0) + s);
      }
      const ce = await out.ce.item();
      const kl = out.kl ? await out.kl.item() : 0;
      const lg = await host(out.logits);
      let ok = 0;
      for (let i = 0; i < cur.size; i++) {
        let m = 0;
        for (let k = 1; k < K; k++) if (lg[i * K + k] > lg[i * K + m]) m = k;
        if (m === cur.labelValues[i]) ok++;
      }
      const ls = stats(lg, cur.size);
      const zs = stats(await host(out.zHat), cur.size);
      adam.step();
      adam.zeroGrad();
      step++;
      if (step <= 10 || step % 5 === 0) {
        console.log(
          `${String(step).padStart(4)} ${f(ce, 4).padStart(7)} ${f(kl, 3).padStart(7)} ${f(ok / cur.size, 2).padStart(5)} | ${groups.map(([g]) => f(Math.sqrt(norms.get(g) ?? 0), 2)).join(' | ')} | ${f(ls.between, 2)} (std ${f(ls.std, 2)}), ${f(zs.between, 2)}`,
        );
      }
      for (const t of [out.total, out.ce, out.kl, out.logits, out.zHat]) t?.dispose();
      engine.clearTape();
    } finally {
      mb?.dispose();
      b.dispose();
    }
    if (step >= steps) break outer;
  }
  epoch++;
}
adam.dispose();
model.dispose();
session.dispose();
ctx.dispose();
