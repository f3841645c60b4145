/**
 * `lrdif demo`: the whole LRDif job on built-in defaults, for a fresh machine.
 *
 *   1. a synthetic face dataset (procedural faces, seven expressions)        <out>/data/clean
 *   2. its under-display-camera version (`lrdif synth --degradation udc`)     <out>/data/udc
 *      (or low light with --variant lowlight: LLDif)
 *   3. stage 1 on the tiny config with the recipe (src/train/recipe.ts)       <out>/stage1
 *   4. stage 2 from stage 1's best checkpoint (chosen on 15 % of train)       <out>/stage2
 *   5. the evaluation of stage 2 on the test split (confusion matrix, SVG)   <out>/eval
 *      and face-api's expression net zero-shot on the same faces (the final line)
 *
 * The recipe: per-image exposure normalisation and face-api's pretrained expression net as E_I
 * (why: src/train/recipe.ts); the class prompts go through the tiny random CLIP (or --clip).
 * Defaults are sized for a 2-core CPU (lavapipe) to finish in a few minutes:
 * - the tiny config at a 32×32 input (`--image-size 112` is the spec's tiny size, about ten times
 *   the work per image);
 * - batches of 32 at a constant learning rate of 1e-3 and no augmentation (`--augment` for the
 *   paper's flip + erasing): with the tiny random CLIP the class prompts' embeddings are nearly
 *   parallel (cosine up to 0.99), and the conditioning path Z → UDCformer starts weak, so stage 1
 *   needs ~150–200 steps before it reads the label (stage 1's validation accuracy sits at the
 *   prior for ~5 epochs, then climbs to ~50 % by epoch 20 on the UDC faces); on 266 faces,
 *   augmentation and a decaying rate stretch that out, and memorising the images competes with it;
 * - 20 + 8 epochs: stage 2 learns fast once stage 1 reads the label (its validation accuracy
 *   peaks at epoch 7, then it memorises the 266 faces; 10 epochs chose the same epoch); on the
 *   UDC faces, seed 0, it scores 32.4 % on the 105 test faces (face-api zero-shot 24.8 %, the
 *   engine CNN of `lrdif baseline` 14.3 %: one class), in 263 s of CPU time for the whole demo,
 *   data included (2 cores shared with other training: 12 min 51 s wall);
 * - stage 2 with DiffIR's x0 parameterisation, whose reverse chain is well conditioned from the
 *   first step (`--parameterisation eps`, the paper's Eq. 16, amplifies the chain's start about
 *   20-fold at T = 4 and needs far more steps before the classifier sees a useful prior).
 * Every stage prints its progress; the run folders are ordinary `lrdif train` runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { writeSyntheticDataset } from '../data/synthetic-faces-node.js';
import { runSynth } from '../data/degrade/synth.js';
import { nodeSynthLayout } from '../data/degrade/synth-node.js';
import { clearPsfCache, type DegradationKind } from '../data/degrade/index.js';
import { runEvaluation } from '../train/eval-node.js';
import { runOptions } from '../train/options.js';
import { openEncoders, Session } from '../train/session-node.js';
import { defaultCacheDir } from '../train/store-node.js';
import type { Wrap } from './command.js';
import { isPlain, makeBar } from './progress.js';
import { trainWithOptions } from './train.js';
import { choiceArg, intArg, numArg } from './args.js';
import { packageVersion } from './package-version.js';
import { RECIPE_CONFIG } from '../train/recipe.js';
import { loadFaceExpressionNet } from '../models/faceapi/load-node.js';
import { scoreFaceApiZeroShot } from '../baseline/faceapi-zero-shot.js';
import type { LrdifClassBalance, LrdifImageEncoder, LrdifInputNorm } from '../models/lrdif/config.js';

export interface DemoOptions {
  out: string;
  images: number;
  imageSize: number;
  epochs1: number;
  epochs2: number;
  batch: number;
  lr: number;
  lr2: number;
  parameterisation: 'eps' | 'x0';
  timesteps: number;
  augment: boolean;
  /** Stage-1 config fields of the recipe's levers (src/train/recipe.ts). */
  inputNorm: LrdifInputNorm;
  imageEncoder: LrdifImageEncoder;
  classBalance: LrdifClassBalance;
  variant: DegradationKind;
  clip?: string;
  seed: number;
  cache?: string | false;
  plain?: boolean;
}

export interface DemoResult {
  /** best: the selection (val) accuracy of the selected epoch; test: that epoch's test accuracy. */
  stage1: { best: number; epoch: number; test: number | null };
  stage2: { best: number; epoch: number; test: number | null };
  test: { accuracy: number; perClass: Array<number | null>; classes: string[] };
  /** The same test faces scored by face-api's pretrained expression net without training (`lrdif baseline --which faceapi`). */
  faceapiZeroShot: number;
  seconds: number;
  out: string;
}

const MARKER = 'demo.json';

function prepareOut(out: string): void {
  if (fs.existsSync(out)) {
    const entries = fs.readdirSync(out);
    if (entries.length && !entries.includes(MARKER)) {
      throw new Error(`lrdif: demo: ${out} is not empty and holds no ${MARKER}; give a new or empty --out folder (an earlier demo's folder is reused)`);
    }
    // an earlier demo: its runs are replaced (the data is regenerated only when missing)
    for (const d of ['stage1', 'stage2', 'eval']) fs.rmSync(path.join(out, d), { recursive: true, force: true });
  }
  fs.mkdirSync(out, { recursive: true });
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const plain = isPlain(o.plain);
  const say = (m: string) => process.stdout.write(`${m}\n`);
  prepareOut(o.out);
  const clean = path.join(o.out, 'data', 'clean');
  const degraded = path.join(o.out, 'data', o.variant);
  const method = o.variant === 'lowlight' ? 'LLDif (low light)' : 'LRDif (under-display camera)';
  fs.writeFileSync(path.join(o.out, MARKER), `${JSON.stringify({ ...o, version: packageVersion() }, null, 2)}\n`);
  const ctx = await initNode();
  try {
    say(`lrdif demo: ${method} end to end on ${ctx.adapter.summary}, in ${o.out}`);
    // 1. synthetic faces
    if (!fs.existsSync(path.join(clean, 'synthetic.json'))) {
      say(`[1/5] ${o.images} synthetic faces (seven expressions, 112×112) → ${clean}`);
      const bar = makeBar(o.images, plain, 'faces |{bar}| {value}/{total}', (v) => `faces: ${v}/${o.images}`);
      try {
        await writeSyntheticDataset({ out: clean, n: o.images, seed: o.seed, size: 112, testFraction: 0.25, onProgress: (d) => bar.update(d) });
      } finally {
        bar.stop();
      }
    } else say(`[1/5] synthetic faces: reusing ${clean}`);
    // 2. degraded copy
    if (!fs.existsSync(path.join(degraded, 'synth.json'))) {
      say(`[2/5] ${o.variant === 'udc' ? 'under-display-camera' : 'low-light'} degradation of every image → ${degraded}`);
      fs.rmSync(degraded, { recursive: true, force: true });
      const layout = nodeSynthLayout('folder', clean);
      const total = await layout.count();
      const bar = makeBar(total, plain, 'degrading |{bar}| {value}/{total} images', (v) => `degrading: ${v}/${total} images`);
      const warnings: string[] = [];
      try {
        await runSynth(layout, degraded, {
          kind: o.variant,
          config: {},
          seed: o.seed,
          batch: 32,
          version: packageVersion(),
          onProgress: (d) => bar.update(d),
          warn: (m) => warnings.push(m),
        });
      } finally {
        bar.stop();
        for (const w of warnings) process.stderr.write(`${w}\n`);
      }
    } else say(`[2/5] degraded faces: reusing ${degraded}`);

    const cacheDir = o.cache === false ? null : (o.cache ?? defaultCacheDir());
    const base = runOptions({
      stage: 1,
      data: degraded,
      format: 'folder',
      testFraction: 0.25,
      splitSeed: 0,
      clip: o.clip ?? null,
      config: 'tiny',
      set: {
        ...(o.imageSize === 112 ? {} : { imageSize: o.imageSize, window: o.imageSize / 16 }),
        inputNorm: o.inputNorm,
        imageEncoder: o.imageEncoder,
        classBalance: o.classBalance,
      },
      variant: o.variant,
      augment: o.augment,
      epochs: o.epochs1,
      batch: o.batch,
      lr: o.lr,
      schedule: 'constant',
      seed: o.seed,
      out: path.join(o.out, 'stage1'),
      cache: cacheDir,
    });
    const enc = await openEncoders({ path: o.clip ?? null, seed: 0 }, cacheDir, say);
    let session: Session;
    try {
      session = await Session.open({ dir: degraded, format: 'folder', splitSeed: 0, testFraction: 0.25, valFraction: base.valFraction }, enc, say, (m) =>
        process.stderr.write(`${m}\n`),
      );
    } catch (e) {
      enc.dispose();
      throw e;
    }
    try {
      say(`[3/5] stage 1 (FPEN_S1 + UDCformer, the label is an input): tiny config at ${o.imageSize}×${o.imageSize}, ${o.epochs1} epochs`);
      const s1 = await trainWithOptions(base, false, { session, plain: o.plain, log: say });
      say(`[4/5] stage 2 (FPEN_S2 + denoiser + UDCformer from the image alone): T = ${o.timesteps}, ${o.parameterisation} parameterisation, CE + KL, ${o.epochs2} epochs`);
      const s2 = await trainWithOptions(
        {
          ...base,
          stage: 2,
          epochs: o.epochs2,
          lr: o.lr2,
          from: path.join(o.out, 'stage1', 'best.safetensors'),
          set: {},
          parameterisation: o.parameterisation,
          timesteps: o.timesteps,
          out: path.join(o.out, 'stage2'),
        },
        false,
        { session, plain: o.plain, log: say },
      );
      say(`[5/5] evaluation of stage 2's best checkpoint on the test split, and of face-api's expression net zero-shot on the same faces`);
      const ev = await runEvaluation(
        {
          ckpt: path.join(o.out, 'stage2', 'best.safetensors'),
          data: degraded,
          format: 'folder',
          split: 'test',
          testFraction: 0.25,
          splitSeed: 0,
          clip: o.clip ?? null,
          batch: 64,
          degrade: 'auto',
          degradeSeed: 0,
          out: path.join(o.out, 'eval'),
          tsne: true,
          tsneMax: 2000,
          tsnePerplexity: 30,
          cacheDir,
        },
        say,
        (m) => process.stderr.write(`${m}\n`),
      );
      say(ev.text);
      // the baseline that costs seconds: face-api's expression net, zero-shot, on the same test faces
      const net = await loadFaceExpressionNet();
      let zeroShot: number;
      try {
        zeroShot = (await scoreFaceApiZeroShot(net, session.split('test'))).report.accuracy;
      } finally {
        net.dispose();
      }
      const seconds = (performance.now() - t0) / 1000;
      const r = ev.result.report;
      const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
      say(
        `\n${method}: stage 1 (label as input) ${pct(s1.result.test?.accuracy ?? s1.result.best.accuracy)} test accuracy; ` +
          `stage 2 (image only) ${pct(r.accuracy)} on ${r.n} test faces (chance ${pct(1 / r.classNames.length)}; face-api's expression net zero-shot ${pct(zeroShot)} on the same faces), ` +
          `in ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s. Figures: ${path.join(o.out, 'eval')}/confusion.svg, tsne.svg`,
      );
      return {
        stage1: { best: s1.result.best.accuracy, epoch: s1.result.best.epoch, test: s1.result.test?.accuracy ?? null },
        stage2: { best: s2.result.best.accuracy, epoch: s2.result.best.epoch, test: s2.result.test?.accuracy ?? null },
        test: { accuracy: r.accuracy, perClass: r.perClass, classes: r.classNames },
        faceapiZeroShot: zeroShot,
        seconds,
        out: o.out,
      };
    } finally {
      session.dispose();
    }
  } finally {
    clearPsfCache(ctx);
    ctx.dispose();
  }
}

export function registerDemo(program: Command, wrap: Wrap): void {
  const cmd = 'demo';
  program
    .command('demo')
    .description('the whole LRDif job on built-in defaults: synthetic faces, their UDC version, stage 1, stage 2, evaluation (a few minutes on a CPU)')
    .option('--out <dir>', 'working folder (data, runs, figures)', 'lrdif-demo')
    .option('--images <n>', 'synthetic faces (a quarter for testing)', intArg(cmd, 'images', 28), 420)
    .option('--image-size <px>', 'model input side: 32 (fast), 64, or 112 (the spec tiny config)', choiceArg(cmd, 'image-size', ['32', '64', '112'] as const), '32')
    .option('--epochs1 <n>', 'stage-1 epochs', intArg(cmd, 'epochs1', 1), 20)
    .option('--epochs2 <n>', 'stage-2 epochs', intArg(cmd, 'epochs2', 1), 8)
    .option('--batch <n>', 'batch size', intArg(cmd, 'batch', 1), 32)
    .option('--lr <x>', 'stage-1 learning rate (constant)', numArg(cmd, 'lr', 0, 1, true), 1e-3)
    .option('--lr2 <x>', 'stage-2 learning rate', numArg(cmd, 'lr2', 0, 1, true), 1e-3)
    .option('--parameterisation <p>', 'stage 2: x0 (DiffIR, converges fast) or eps (paper Eq. 16)', choiceArg(cmd, 'parameterisation', ['eps', 'x0'] as const), 'x0')
    .option('--timesteps <T>', 'stage 2: diffusion steps', intArg(cmd, 'timesteps', 1), 4)
    .option('--augment', 'random flip and erasing (the paper; slower to converge here)')
    .option(
      '--input-norm <n>',
      "per-image exposure normalisation (exposure) or none (the paper's)",
      choiceArg(cmd, 'input-norm', ['none', 'exposure'] as const),
      RECIPE_CONFIG.inputNorm ?? 'none',
    )
    .option(
      '--image-encoder <e>',
      "E_I: face-api's pretrained expression net (faceapi-expression) or CLIP's image tower (clip, the paper's)",
      choiceArg(cmd, 'image-encoder', ['clip', 'faceapi-expression'] as const),
      RECIPE_CONFIG.imageEncoder ?? 'clip',
    )
    .option(
      '--class-balance <b>',
      "class weights of the cross-entropy: none (the paper's), inverse or sqrtInverse",
      choiceArg(cmd, 'class-balance', ['none', 'inverse', 'sqrtInverse'] as const),
      RECIPE_CONFIG.classBalance ?? 'none',
    )
    .option('--variant <v>', 'udc (LRDif) or lowlight (LLDif)', choiceArg(cmd, 'variant', ['udc', 'lowlight'] as const), 'udc')
    .option('--clip <dir>', 'real CLIP weights instead of the tiny random CLIP')
    .option('--seed <n>', 'seed of the data, the degradation and the training', intArg(cmd, 'seed', 0), 0)
    .option('--cache <dir>', 'embedding cache folder')
    .option('--no-cache', 'keep the embeddings in memory only')
    .option('--plain', 'print progress lines instead of progress bars')
    .action(
      wrap(async (opts: Omit<DemoOptions, 'imageSize' | 'augment'> & { imageSize: string; augment?: boolean }) => {
        await runDemo({ ...opts, augment: Boolean(opts.augment), imageSize: Number(opts.imageSize) });
      }),
    );
}
