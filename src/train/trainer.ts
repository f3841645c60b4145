/**
 * The LRDif training loop for one stage (browser-safe; files go through a `RunStore`).
 *
 * Per epoch: the DataLoader's seeded order, each batch through pipeline.ts (degradation,
 * augmentation, landmark taps, cached e_img), one AdamW step on the stage's parameters
 * (stage 1: FPEN_S1 + UDCformer, CE; stage 2: FPEN_S2 + denoiser + UDCformer, CE + λ·KL with
 * the frozen FPEN_S1's Z as target), then an evaluation on the test split, the metrics lines,
 * and the checkpoints: `best` when the test accuracy improves, then `last` every epoch. Writing
 * `last` commits the epoch: a run killed before it resumes from the previous epoch and drops
 * the lines this one wrote.
 *
 * - Every step reads its loss back; a NaN or Inf stops the run before the weights change, with
 *   an error naming the step. The checkpoints on disk stay the last good ones.
 * - Resuming from `last` restores the weights, the optimiser state, the step count and the best
 *   accuracy; every random draw is a function of (seed, epoch, image) (pipeline.ts), so the
 *   resumed run repeats the uninterrupted one exactly. In deterministic mode the metrics lines
 *   carry no timing, so the two metrics files are byte for byte the same.
 * - Tensors of a step are freed at its end: GPU memory is flat across steps and epochs.
 */
import { tidy, noGrad, engine } from '../autograd/engine.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { backward } from '../autograd/backward.js';
import { argmax } from '../kernels/reduce.js';
import { embedding } from '../kernels/indexing.js';
import { DataLoader } from '../data/loader.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { cosineSchedule, type Schedule } from '../optim/schedule.js';
import type { OptimizerStateDict } from '../optim/optimizer.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import type { LrdifModel, LrdifStage } from '../models/lrdif/lrdif.js';
import { checkpointEntries, type CheckpointMeta } from './checkpoint.js';
import type { ClipRecord, FrozenEncoders } from './encoders.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { assembleBatch, trainNoise, LandmarkTapCache, type EmbeddingTable, type IndexedSplit, type ModelBatch, type PipelineSpec } from './pipeline.js';

export interface TrainSettings {
  stage: LrdifStage;
  epochs: number;
  batchSize: number;
  evalBatchSize: number;
  lr: number;
  weightDecay: number;
  /** 'cosine' (to 0 over the run, after `warmupSteps`) or 'constant'. */
  schedule: 'cosine' | 'constant';
  warmupSteps: number;
  /** Global gradient-norm clipping (0: off). */
  gradClip: number;
  seed: number;
  /** Metrics without timings (byte-identical reruns), no prefetch. */
  deterministic: boolean;
}

export interface RunStore {
  writeCheckpoint(which: 'last' | 'best', entries: SafetensorsEntry[], metadata: Record<string, string>): void | Promise<void>;
  /** Where a checkpoint is (for messages). */
  checkpointPath(which: 'last' | 'best'): string;
  /** The metrics lines so far (a torn last line dropped). */
  readMetrics(): string[];
  /** Replaces the metrics file (atomically). */
  rewriteMetrics(lines: string[]): void;
  appendMetrics(line: string): void;
}

export interface StepInfo {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  step: number;
  loss: number;
  ce: number;
  kl: number | null;
  accuracy: number;
  lr: number;
  images: number;
  imagesPerSecond: number;
}

export interface EpochInfo {
  epoch: number;
  epochs: number;
  step: number;
  trainLoss: number;
  trainAccuracy: number;
  eval: EvalResult;
  best: { epoch: number; accuracy: number };
  improved: boolean;
  seconds: number;
  gpuLiveBytes: number;
}

export interface TrainHooks {
  onEpochStart?: (epoch: number, epochs: number, batches: number) => void;
  onStep?: (s: StepInfo) => void;
  onEvalBatch?: (done: number, total: number) => void;
  onEpochEnd?: (e: EpochInfo) => void;
  /** After the checkpoints of an epoch are written (tests use it to simulate a crash). */
  afterCheckpoint?: (epoch: number) => void | Promise<void>;
}

/** What a resumed run continues from (read from `last`). */
export interface ResumeState {
  meta: CheckpointMeta;
  modelState: Map<string, Tensor>;
  optimizer: OptimizerStateDict | null;
}

export interface TrainJob {
  model: LrdifModel;
  encoders: FrozenEncoders;
  train: IndexedSplit;
  test: IndexedSplit;
  trainTable: EmbeddingTable;
  testTable: EmbeddingTable;
  /** [K·P] L2-normalised class prompt embeddings. */
  textTable: Float32Array;
  classNames: readonly string[];
  spec: PipelineSpec;
  settings: TrainSettings;
  store: RunStore;
  /** Recorded in checkpoints. */
  record: { clip: ClipRecord; version: string; train: Record<string, unknown> };
  resume?: ResumeState | null;
  hooks?: TrainHooks;
  /** Landmark tap caches of the training and test splits (default: fresh ones). */
  tapCaches?: { train: LandmarkTapCache; test: LandmarkTapCache };
}

export interface TrainResult {
  epochs: number;
  steps: number;
  best: { epoch: number; accuracy: number };
  last: EvalResult | null;
}

export class TrainingDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}

function scheduleOf(s: TrainSettings, totalSteps: number): Schedule {
  if (s.schedule === 'constant' || totalSteps <= s.warmupSteps) {
    return (step) => (step < s.warmupSteps ? (s.lr * (step + 1)) / s.warmupSteps : s.lr);
  }
  return cosineSchedule({ baseLr: s.lr, totalSteps, warmupSteps: s.warmupSteps });
}

const round = (v: number | null) => (v === null ? null : Number.isFinite(v) ? v : String(v));

/** The epoch (1-based) of a metrics line, or null when it is not one of ours. */
function lineEpoch(line: string): number | null {
  try {
    const o = JSON.parse(line) as { epoch?: unknown };
    return typeof o.epoch === 'number' ? o.epoch : null;
  } catch {
    return null;
  }
}

export async function trainStage(job: TrainJob): Promise<TrainResult> {
  const { model, settings: s, store, spec } = job;
  const stage = s.stage;
  const cfg = model.config;
  if (job.classNames.length !== cfg.numClasses) throw new Error(`lrdif: train: ${job.classNames.length} class names for a model of ${cfg.numClasses} classes`);
  if (job.train.length === 0) throw new Error('lrdif: train: the training split is empty');
  if (job.test.length === 0) throw new Error('lrdif: train: the test split is empty (give a dataset with a test split, or a --test-fraction)');
  model.setStage(stage);
  model.train();
  const params = model.stageParameters(stage);
  const opt = new AdamW(params, { lr: s.lr, weightDecay: s.weightDecay });
  const loader = new DataLoader(job.train.dataset, {
    batchSize: s.batchSize,
    size: spec.imageSize,
    shuffle: true,
    seed: s.seed,
    augment: false,
    prefetch: !s.deterministic,
    resize: spec.resize,
  });
  const batches = loader.numBatches;
  const totalSteps = s.epochs * batches;
  const lrAt = scheduleOf(s, totalSteps);
  const trainTaps = job.tapCaches?.train ?? new LandmarkTapCache();
  const testTaps = job.tapCaches?.test ?? new LandmarkTapCache();
  const textTable = engine.keep(tensor(job.textTable, [job.classNames.length, job.encoders.projectionDim]));
  // the cross-entropy's class weights (config.classBalance) from the training split's counts
  const counts = new Array<number>(cfg.numClasses).fill(0);
  for (const it of job.train.dataset.items) counts[it.label]++;
  const cw = model.classWeights(counts);
  const classWeights = cw ? engine.keep(cw) : null;
  let startEpoch = 0;
  let step = 0;
  let best = { epoch: 0, accuracy: -1 };
  let lastEval: EvalResult | null = null;

  try {
    if (job.resume) {
      const r = job.resume;
      if (r.meta.stage !== stage) throw new Error(`lrdif: train: cannot resume stage ${stage} from a stage-${r.meta.stage} checkpoint`);
      model.loadStateDict(r.modelState);
      if (r.optimizer) opt.loadStateDict(r.optimizer);
      startEpoch = r.meta.epoch;
      step = r.meta.step;
      const b = r.meta.metrics.best as { epoch: number; accuracy: number } | undefined;
      if (b) best = { epoch: b.epoch, accuracy: b.accuracy };
      // drop what the interrupted epoch wrote: the resumed run writes it again
      store.rewriteMetrics(store.readMetrics().filter((l) => {
        const e = lineEpoch(l);
        return e !== null && e <= startEpoch;
      }));
    } else {
      store.rewriteMetrics([]);
    }

    for (let epoch = startEpoch; epoch < s.epochs; epoch++) {
      const e1 = epoch + 1;
      job.hooks?.onEpochStart?.(e1, s.epochs, batches);
      model.train();
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let windowT = t0;
      for await (const b of loader.epoch(epoch)) {
        let mb: ModelBatch | null = null;
        try {
          mb = await assembleBatch(b, job.train, spec, job.encoders, job.trainTable, epoch, trainTaps);
          const cur = mb;
          const lr = lrAt(step);
          const out = tidy(() => {
            const eTxt = embedding(textTable, cur.labels);
            if (stage === 1) {
              const o = model.stage1Forward({ x112: cur.x112, taps: cur.taps, eImg: cur.eImg, eTxt });
              const l = model.stage1Loss(o, cur.labels, classWeights);
              return { total: l.total, ce: l.ce, kl: null as Tensor | null, pred: noGrad(() => argmax(o.logits, 1)) };
            }
            const noise = tensor(trainNoise(spec, epoch, cur.global, cfg.priorDim), [cur.size, cfg.priorDim]);
            const o = model.stage2Forward({ x112: cur.x112, taps: cur.taps, eImg: cur.eImg, eTxt, noise });
            const l = model.stage2Loss(o, cur.labels, null, classWeights);
            return { total: l.total, ce: l.ce, kl: l.kl, pred: noGrad(() => argmax(o.logits, 1)) };
          });
          try {
            backward(out.total);
            const loss = await out.total.item();
            const ce = await out.ce.item();
            const kl = out.kl ? await out.kl.item() : null;
            if (!Number.isFinite(loss)) {
              opt.zeroGrad();
              const msg =
                `lrdif: train: the loss is ${loss} at step ${step + 1} (stage ${stage}, epoch ${e1}, batch ${b.index + 1} of ${batches}); ` +
                `stopped before updating the weights. ` +
                (epoch > 0 || job.resume ? `The last good checkpoint is ${store.checkpointPath('last')} (epoch ${epoch}).` : 'No checkpoint was written yet (it happened in the first epoch).') +
                ' Try a lower --lr or --grad-clip.';
              store.appendMetrics(JSON.stringify({ type: 'diverged', stage, epoch: e1, batch: b.index + 1, step: step + 1, loss: String(loss) }));
              throw new TrainingDivergedError(msg);
            }
            if (s.gradClip > 0) clipGradNorm(params.map(([, p]) => p), s.gradClip).dispose();
            opt.lr = lr;
            opt.step();
            opt.zeroGrad();
            step++;
            const pred = (await out.pred.data()) as Int32Array;
            let ok = 0;
            for (let i = 0; i < pred.length; i++) if (pred[i] === cur.labelValues[i]) ok++;
            lossSum += loss * cur.size;
            correct += ok;
            seen += cur.size;
            const now = performance.now();
            const ips = (cur.size * 1000) / Math.max(1e-6, now - windowT);
            windowT = now;
            const line: Record<string, unknown> = { type: 'step', stage, epoch: e1, batch: b.index + 1, step, loss: round(loss), ce: round(ce), kl: round(kl), acc: ok / cur.size, lr, images: cur.size };
            if (!s.deterministic) line.images_per_s = Math.round(ips * 100) / 100;
            store.appendMetrics(JSON.stringify(line));
            job.hooks?.onStep?.({ epoch: e1, epochs: s.epochs, batch: b.index + 1, batches, step, loss, ce, kl, accuracy: ok / cur.size, lr, images: cur.size, imagesPerSecond: ips });
          } finally {
            for (const t of [out.total, out.ce, out.kl, out.pred]) t?.dispose();
            engine.clearTape();
          }
        } finally {
          mb?.dispose();
          b.dispose();
        }
      }

      const ev = await evaluate(model, stage, job.test, job.testTable, job.encoders, spec, textTable, {
        batchSize: s.evalBatchSize,
        classNames: job.classNames,
        prefetch: !s.deterministic,
        tapCache: testTaps,
        onBatch: job.hooks?.onEvalBatch,
      });
      lastEval = ev;
      const acc = ev.report.accuracy;
      const improved = acc > best.accuracy;
      if (improved) best = { epoch: e1, accuracy: acc };
      const perClass = Object.fromEntries(job.classNames.map((c, i) => [c, ev.report.perClass[i]]));
      store.appendMetrics(
        JSON.stringify({ type: 'eval', stage, epoch: e1, step, split: 'test', n: ev.report.n, accuracy: acc, mean_class_accuracy: ev.report.meanClassAccuracy, loss: round(ev.loss), per_class: perClass }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const meta: CheckpointMeta = {
        stage,
        epoch: e1,
        step,
        config: cfg,
        classNames: [...job.classNames],
        rng: {
          seed: s.seed,
          order: 'permutation(n, seed, epoch)',
          augment: { seed: s.seed + 1, stream: 'epoch·2^32 + image' },
          noise: { train: { seed: s.seed + 2, stream: 'epoch·2^32 + image' }, eval: { seed: s.seed + 3, stream: 'image' } },
          degrade: spec.degrade ? { seed: spec.degrade.seed, image: 'imageSeed(seed, image)' } : null,
          nextEpoch: e1,
        },
        train: { ...job.record.train, settings: s },
        clip: job.record.clip,
        metrics: { best, last: { epoch: e1, accuracy: acc, meanClassAccuracy: ev.report.meanClassAccuracy, loss: round(ev.loss) } },
        version: job.record.version,
      };
      // the epoch's metrics lines go out before its checkpoint, the commit point: a run killed in
      // between resumes from the previous checkpoint and drops (then rewrites) this epoch's lines
      const live = engine.ctx.stats().liveBytes;
      const epochLine: Record<string, unknown> = {
        type: 'epoch',
        stage,
        epoch: e1,
        step,
        train_loss: round(seen ? lossSum / seen : NaN),
        train_acc: seen ? correct / seen : 0,
        test_accuracy: acc,
        best_accuracy: best.accuracy,
        best_epoch: best.epoch,
      };
      if (!s.deterministic) {
        epochLine.seconds = Math.round(seconds * 100) / 100;
        epochLine.gpu_live_bytes = live;
      }
      store.appendMetrics(JSON.stringify(epochLine));
      const { entries, metadata } = await checkpointEntries(model, opt, meta);
      // best before last: until `last` moves on, a resumed run redoes this epoch (and its `best`)
      if (improved) await store.writeCheckpoint('best', entries, metadata);
      await store.writeCheckpoint('last', entries, metadata);
      job.hooks?.onEpochEnd?.({
        epoch: e1,
        epochs: s.epochs,
        step,
        trainLoss: seen ? lossSum / seen : NaN,
        trainAccuracy: seen ? correct / seen : 0,
        eval: ev,
        best,
        improved,
        seconds,
        gpuLiveBytes: live,
      });
      await job.hooks?.afterCheckpoint?.(e1);
    }
    return { epochs: s.epochs, steps: step, best, last: lastEval };
  } finally {
    textTable.dispose();
    classWeights?.dispose();
    opt.dispose();
    for (const [, p] of params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }
}
