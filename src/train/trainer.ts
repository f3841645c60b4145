/**
 * The LRDif training loop for one stage (browser-safe; files go through a `RunStore`).
 *
 * Per epoch: the DataLoader's seeded order, each batch through pipeline.ts (degradation,
 * augmentation, landmark taps, cached e_img), one AdamW step on the stage's parameters
 * (stage 1: FPEN_S1 + UDCformer, CE; stage 2: FPEN_S2 + denoiser + UDCformer, CE + λ·KL with
 * the frozen FPEN_S1's Z as target), then an evaluation on the selection split (val by default;
 * test under the paper's protocol, `selectOn: 'test'`; none in a refit, `selectOn: 'last'`, which keeps
 * every epoch as `best`, so the last is tested), the metrics lines, and the checkpoints:
 * `best` when the selection accuracy improves, then `last` every epoch. Writing `last` commits the
 * epoch: a run killed before it resumes from the previous epoch and drops the lines this one
 * wrote. After the last epoch, `best`'s weights are evaluated on the test split once (a `test`
 * metrics line and the store's result), so no test figure ever chose anything.
 * - A collapse (the predictions on the selection split fall on one class, or the training loss
 *   sits at the entropy of the class prior; collapse.ts) is recorded in the eval line, the epoch
 *   line, the checkpoint's metrics and the result, and reported through the hooks.
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
import type { Batch } from '../data/loader.js';
import type { KernelRequest } from '../gpu/kernel.js';
import { zeros } from '../kernels/creation.js';
import { lrdifImageDim, lrdifScales } from '../models/lrdif/config.js';
import type { LandmarkTaps } from '../models/lrdif/dilnetwork.js';
import { predictionCollapse, PriorLossWatch, type CollapseReport } from './collapse.js';
import type { SelectOn, TrainSettings } from './options.js';

export type { TrainSettings } from './options.js';

export interface RunStore {
  writeCheckpoint(which: 'last' | 'best', entries: SafetensorsEntry[], metadata: Record<string, string>): void | Promise<void>;
  /** Where a checkpoint is (for messages). */
  checkpointPath(which: 'last' | 'best'): string;
  /** The metrics lines so far (a torn last line dropped). */
  readMetrics(): string[];
  /** Replaces the metrics file (atomically). */
  rewriteMetrics(lines: string[]): void;
  appendMetrics(line: string): void;
  /** The run's outcome (result.json in a run folder), written once the run is complete. */
  writeResult?(result: Record<string, unknown>): void;
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
  /** The evaluation on the selection split (null in a refit, which has none). */
  eval: EvalResult | null;
  /** The split that evaluation is on ('val', 'test' under the paper's protocol, 'last' in a refit). */
  split: SelectOn;
  best: { epoch: number; accuracy: number };
  improved: boolean;
  seconds: number;
  gpuLiveBytes: number;
  /** A collapse seen this epoch (one class predicted, or the loss at the prior's entropy). */
  collapse: CollapseReport | null;
}

/** The epoch's evaluation, for callers that always give a selection split (a refit, selectOn 'last', has none). */
export function epochEval(e: EpochInfo): EvalResult {
  if (!e.eval) throw new Error(`lrdif: train: epoch ${e.epoch} has no evaluation (selectOn '${e.split}': a refit evaluates nothing until its final test)`);
  return e.eval;
}

export interface TrainHooks {
  onEpochStart?: (epoch: number, epochs: number, batches: number) => void;
  onStep?: (s: StepInfo) => void;
  onEvalBatch?: (done: number, total: number) => void;
  onEpochEnd?: (e: EpochInfo) => void;
  /** After the checkpoints of an epoch are written (tests use it to simulate a crash). */
  afterCheckpoint?: (epoch: number) => void | Promise<void>;
  /** After the final test evaluation (the selected epoch's weights on the test split). */
  onTest?: (t: TestOutcome) => void;
}

/** What a resumed run continues from (read from `last`, and `best` for the final test). */
export interface ResumeState {
  meta: CheckpointMeta;
  modelState: Map<string, Tensor>;
  optimizer: OptimizerStateDict | null;
  /** The model state of `best` (the final test evaluates it); null when there is none yet. */
  bestState?: Map<string, Tensor> | null;
}

/** A split with its embedding table. */
export interface EvalSplit {
  split: IndexedSplit;
  table: EmbeddingTable;
}

export interface TrainJob {
  model: LrdifModel;
  encoders: FrozenEncoders;
  train: IndexedSplit;
  trainTable: EmbeddingTable;
  /** Evaluated after every epoch; picks `best` (settings.selectOn names it). Null in a refit (selectOn 'last'): every epoch is `best`. */
  selection: EvalSplit | null;
  /** The held-out test split, evaluated once with the selected weights after the last epoch (null: none, as when selecting on test). */
  finalTest: EvalSplit | null;
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
  /** Landmark tap caches (default: fresh ones). */
  tapCaches?: { train: LandmarkTapCache; selection: LandmarkTapCache; test?: LandmarkTapCache };
  /**
   * A helper compiling pipelines ahead (gpu/precompile-node.ts): given the first step's kernels
   * (StageRun.stepKernels) before that step, told to stop once its forward and backward have run.
   */
  compileAhead?: CompileAhead;
  /**
   * Before the first step, list its kernels with a dry run (StageRun.stepKernels) and build their
   * pipelines: in parallel with createComputePipelineAsync (prepareKernels), or, where
   * `compileAhead` is given, one by one in the dry run, then the list to it. Default true; false:
   * no dry run, each pipeline built when the step reaches it (and a helper gets no list).
   */
  prepareAhead?: boolean;
}

/** What a training run tells a helper that compiles its pipelines ahead. */
export interface CompileAhead {
  /** Kernels the run will need, in the order it first runs them. */
  add(kernels: KernelRequest[]): void;
  /** The run has compiled what it needs: start nothing more. */
  stop(): void;
}

/** The part of a batch a training step's forward reads. */
type StepBatch = Pick<ModelBatch, 'x112' | 'taps' | 'eImg' | 'labels' | 'size'>;

interface StepOutputs {
  total: Tensor;
  ce: Tensor;
  kl: Tensor | null;
  pred: Tensor;
}

export interface TestOutcome {
  /** The epoch whose weights were tested. */
  epoch: number;
  /** How that epoch was picked: on val, or the last of a refit. */
  selectedOn: SelectOn;
  n: number;
  accuracy: number;
  meanClassAccuracy: number;
  eval: EvalResult;
  collapse: CollapseReport | null;
}

export interface TrainResult {
  epochs: number;
  steps: number;
  /** The selected epoch; in a refit the last, with accuracy NaN (nothing was evaluated). */
  best: { epoch: number; accuracy: number; split: SelectOn };
  /** The last epoch's evaluation on the selection split (null when no epoch ran). */
  last: EvalResult | null;
  /** The final test of the selected epoch (null when the selection split is the test split). */
  test: TestOutcome | null;
  /** A collapse at the end of the run (the last epoch's, or the final test's), or null. */
  collapse: CollapseReport | null;
}

export class TrainingDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}

function scheduleOf(s: TrainSettings, totalSteps: number): Schedule {
  if (s.schedule === 'constant' || totalSteps <= s.warmup) {
    return (step) => (step < s.warmup ? (s.lr * (step + 1)) / s.warmup : s.lr);
  }
  return cosineSchedule({ baseLr: s.lr, totalSteps, warmupSteps: s.warmup });
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

/** The running sums of a training epoch. */
interface EpochTotals {
  lossSum: number;
  ceSum: number;
  correct: number;
  seen: number;
}

/** The model state as host arrays (the selected epoch's weights, for the final test). */
type HostState = Map<string, { shape: number[]; data: Float32Array }>;

/** One stage's run: the optimiser, the loader and the run's counters; each part of an epoch is a method. */
class StageRun {
  readonly stage: LrdifStage;
  readonly params: Array<[string, Tensor]>;
  readonly opt: AdamW;
  readonly loader: DataLoader;
  readonly lrAt: Schedule;
  readonly taps: { train: LandmarkTapCache; selection: LandmarkTapCache; test: LandmarkTapCache };
  readonly textTable: Tensor;
  /** The cross-entropy's class weights (config.classBalance, from the training counts), or null. */
  readonly classWeights: Tensor | null;
  readonly priorWatch: PriorLossWatch;
  startEpoch = 0;
  step = 0;
  best: { epoch: number; accuracy: number; loss?: number } = { epoch: 0, accuracy: -1 };
  lastEval: EvalResult | null = null;
  lastCollapse: CollapseReport | null = null;
  /** The selected epoch's weights (host copies), for the final test. */
  bestState: HostState | null = null;
  private windowT = 0;

  constructor(readonly job: TrainJob) {
    const { model, settings: s, spec } = job;
    this.stage = s.stage;
    const cfg = model.config;
    if (job.classNames.length !== cfg.numClasses) throw new Error(`lrdif: train: ${job.classNames.length} class names for a model of ${cfg.numClasses} classes`);
    if (job.train.length === 0) throw new Error('lrdif: train: the training split is empty');
    if ((job.selection === null) !== (s.selectOn === 'last')) {
      throw new Error(`lrdif: train: selectOn '${s.selectOn}' ${job.selection ? 'takes no selection split' : 'needs a selection split'}`);
    }
    if (job.selection && job.selection.split.length === 0) {
      throw new Error(
        `lrdif: train: the ${s.selectOn} split is empty (give a dataset with a ${s.selectOn} split${s.selectOn === 'val' ? ', or a --val-fraction' : ', or a --test-fraction'})`,
      );
    }
    model.setStage(this.stage);
    model.train();
    this.params = model.stageParameters(this.stage);
    this.opt = new AdamW(this.params, { lr: s.lr, weightDecay: s.weightDecay });
    this.loader = new DataLoader(job.train.dataset, {
      batchSize: s.batch,
      size: spec.imageSize,
      shuffle: true,
      seed: s.seed,
      augment: false,
      prefetch: !s.deterministic,
      resize: spec.resize,
    });
    this.lrAt = scheduleOf(s, s.epochs * this.loader.numBatches);
    this.taps = {
      train: job.tapCaches?.train ?? new LandmarkTapCache(),
      selection: job.tapCaches?.selection ?? new LandmarkTapCache(),
      test: job.tapCaches?.test ?? new LandmarkTapCache(),
    };
    this.textTable = engine.keep(tensor(job.textTable, [job.classNames.length, job.encoders.projectionDim]));
    const cw = model.classWeights(job.train.dataset.classCounts());
    this.classWeights = cw ? engine.keep(cw) : null;
    this.priorWatch = new PriorLossWatch(job.train.dataset.classCounts());
  }

  /** Restores a resumed run, or starts the metrics afresh. */
  restore(): void {
    const { job } = this;
    const r = job.resume;
    if (!r) {
      job.store.rewriteMetrics([]);
      return;
    }
    if (r.meta.stage !== this.stage) throw new Error(`lrdif: train: cannot resume stage ${this.stage} from a stage-${r.meta.stage} checkpoint`);
    job.model.loadStateDict(r.modelState);
    if (r.optimizer) this.opt.loadStateDict(r.optimizer);
    this.startEpoch = r.meta.epoch;
    this.step = r.meta.step;
    const b = r.meta.metrics.best as { epoch: number; accuracy: number; loss?: number | string } | undefined;
    if (b) this.best = { epoch: b.epoch, accuracy: b.accuracy, ...(typeof b.loss === 'number' ? { loss: b.loss } : {}) };
    const atPrior = r.meta.metrics.epochsAtPrior;
    if (typeof atPrior === 'number') (this as { priorWatch: PriorLossWatch }).priorWatch = new PriorLossWatch(job.train.dataset.classCounts(), atPrior);
    // drop what the interrupted epoch (or final test) wrote: the resumed run writes it again
    job.store.rewriteMetrics(
      job.store.readMetrics().filter((l) => {
        const e = lineEpoch(l);
        return e !== null && e <= this.startEpoch;
      }),
    );
  }

  /** The step's losses and predictions on a batch (in the caller's tidy scope); `noise` gives stage 2's prior noise. */
  private lossOf(cur: StepBatch, noise: () => Float32Array): StepOutputs {
    const { model } = this.job;
    const eTxt = embedding(this.textTable, cur.labels);
    if (this.stage === 1) {
      const o = model.stage1Forward({ x112: cur.x112, taps: cur.taps, eImg: cur.eImg, eTxt });
      const l = model.stage1Loss(o, cur.labels, this.classWeights);
      return { total: l.total, ce: l.ce, kl: null, pred: noGrad(() => argmax(o.logits, 1)) };
    }
    const o = model.stage2Forward({ x112: cur.x112, taps: cur.taps, eImg: cur.eImg, eTxt, noise: tensor(noise(), [cur.size, model.config.priorDim]) });
    const l = model.stage2Loss(o, cur.labels, null, this.classWeights);
    return { total: l.total, ce: l.ce, kl: l.kl, pred: noGrad(() => argmax(o.logits, 1)) };
  }

  /**
   * The kernels of a training step's forward, losses and backward, in the order the step first
   * runs them: a dry run (GpuContext.recordKernels) of the step's own code on a zero batch of the
   * first batch's size. It leaves no gradient behind. `build`: build the pipelines too, as the
   * dry run reaches them.
   */
  stepKernels(opts: { build?: boolean } = {}): KernelRequest[] {
    const cfg = this.job.model.config;
    const B = Math.min(this.job.settings.batch, this.job.train.length);
    const S = cfg.imageSize;
    const { sides } = lrdifScales(cfg);
    const batch: StepBatch = {
      x112: zeros([B, 3, S, S]),
      taps: [0, 1, 2].map((i) => zeros([B, cfg.landmarkChannels[i], sides[i], sides[i]])) as unknown as LandmarkTaps,
      eImg: zeros([B, lrdifImageDim(cfg)]),
      labels: zeros([B], 'i32'),
      size: B,
    };
    try {
      return engine.ctx.recordKernels(() => {
        const out = tidy(() => this.lossOf(batch, () => new Float32Array(B * cfg.priorDim)));
        try {
          backward(out.total);
        } finally {
          for (const t of [out.total, out.ce, out.kl, out.pred]) t?.dispose();
          engine.clearTape();
          this.opt.zeroGrad();
        }
      }, opts);
    } finally {
      for (const t of [batch.x112, ...batch.taps, batch.eImg, batch.labels]) t.dispose();
    }
  }

  /** One optimiser step on a batch; adds to the epoch's totals. */
  async trainStep(b: Batch, epoch: number, totals: EpochTotals): Promise<void> {
    const { job, stage } = this;
    const { model, spec, settings: s, store } = job;
    const e1 = epoch + 1;
    const batches = this.loader.numBatches;
    let mb: ModelBatch | null = null;
    try {
      mb = await assembleBatch(b, job.train, spec, job.encoders, job.trainTable, epoch, this.taps.train);
      const cur = mb;
      const lr = this.lrAt(this.step);
      const out = tidy(() => this.lossOf(cur, () => trainNoise(spec, epoch, cur.global, model.config.priorDim)));
      try {
        backward(out.total);
        const loss = await out.total.item();
        // the step's pipelines are all compiled now: a helper compiling them ahead can stop
        job.compileAhead?.stop();
        const ce = await out.ce.item();
        const kl = out.kl ? await out.kl.item() : null;
        if (!Number.isFinite(loss)) {
          this.opt.zeroGrad();
          const msg =
            `lrdif: train: the loss is ${loss} at step ${this.step + 1} (stage ${stage}, epoch ${e1}, batch ${b.index + 1} of ${batches}); ` +
            `stopped before updating the weights. ` +
            (epoch > 0 || job.resume
              ? `The last good checkpoint is ${store.checkpointPath('last')} (epoch ${epoch}).`
              : 'No checkpoint was written yet (it happened in the first epoch).') +
            ' Try a lower --lr or --grad-clip.';
          store.appendMetrics(JSON.stringify({ type: 'diverged', stage, epoch: e1, batch: b.index + 1, step: this.step + 1, loss: String(loss) }));
          throw new TrainingDivergedError(msg);
        }
        if (s.gradClip > 0)
          clipGradNorm(
            this.params.map(([, p]) => p),
            s.gradClip,
          ).dispose();
        this.opt.lr = lr;
        this.opt.step();
        this.opt.zeroGrad();
        this.step++;
        const pred = (await out.pred.data()) as Int32Array;
        let ok = 0;
        for (let i = 0; i < pred.length; i++) if (pred[i] === cur.labelValues[i]) ok++;
        totals.lossSum += loss * cur.size;
        totals.ceSum += ce * cur.size;
        totals.correct += ok;
        totals.seen += cur.size;
        const now = performance.now();
        const ips = (cur.size * 1000) / Math.max(1e-6, now - this.windowT);
        this.windowT = now;
        const line: Record<string, unknown> = {
          type: 'step',
          stage,
          epoch: e1,
          batch: b.index + 1,
          step: this.step,
          loss: round(loss),
          ce: round(ce),
          kl: round(kl),
          acc: ok / cur.size,
          lr,
          images: cur.size,
        };
        if (!s.deterministic) line.images_per_s = Math.round(ips * 100) / 100;
        store.appendMetrics(JSON.stringify(line));
        job.hooks?.onStep?.({
          epoch: e1,
          epochs: s.epochs,
          batch: b.index + 1,
          batches,
          step: this.step,
          loss,
          ce,
          kl,
          accuracy: ok / cur.size,
          lr,
          images: cur.size,
          imagesPerSecond: ips,
        });
      } finally {
        for (const t of [out.total, out.ce, out.kl, out.pred]) t?.dispose();
        engine.clearTape();
      }
    } finally {
      mb?.dispose();
      b.dispose();
    }
  }

  /** Every batch of one epoch. */
  async trainEpoch(epoch: number): Promise<EpochTotals> {
    this.job.hooks?.onEpochStart?.(epoch + 1, this.job.settings.epochs, this.loader.numBatches);
    this.job.model.train();
    this.windowT = performance.now();
    const totals: EpochTotals = { lossSum: 0, ceSum: 0, correct: 0, seen: 0 };
    for await (const b of this.loader.epoch(epoch)) await this.trainStep(b, epoch, totals);
    return totals;
  }

  /** The model on an evaluation split. */
  evaluateOn(which: EvalSplit, taps: LandmarkTapCache): Promise<EvalResult> {
    const { job } = this;
    return evaluate(job.model, this.stage, which.split, which.table, job.encoders, job.spec, this.textTable, {
      batchSize: job.settings.evalBatch,
      classNames: job.classNames,
      prefetch: !job.settings.deterministic,
      tapCache: taps,
      onBatch: job.hooks?.onEvalBatch,
    });
  }

  /** The epoch's metrics lines, then its checkpoints (`last` is the commit point). */
  async commitEpoch(e1: number, totals: EpochTotals, ev: EvalResult | null, t0: number): Promise<void> {
    const { job, stage } = this;
    const { settings: s, store, spec, model } = job;
    const acc = ev ? ev.report.accuracy : NaN;
    // a tie in accuracy (common on a small validation split) goes to the lower validation loss
    const loss = ev && Number.isFinite(ev.loss) ? ev.loss : Infinity;
    // a refit evaluates nothing and keeps every epoch, so `best` is the last
    const improved = !ev || acc > this.best.accuracy || (acc === this.best.accuracy && loss < (this.best.loss ?? Infinity));
    if (improved) this.best = ev ? { epoch: e1, accuracy: acc, loss } : { epoch: e1, accuracy: NaN };
    const trainCe = totals.seen ? totals.ceSum / totals.seen : NaN;
    const priorLoss = this.priorWatch.observe(trainCe);
    const collapse = (ev ? predictionCollapse(ev.report, s.selectOn) : null) ?? priorLoss;
    // the run's verdict is the last epoch's: an early plateau the model left behind is history
    this.lastCollapse = collapse;
    if (ev) this.appendEvalLine(e1, ev, collapse);
    const seconds = (performance.now() - t0) / 1000;
    const meta: CheckpointMeta = {
      stage,
      epoch: e1,
      step: this.step,
      config: model.config,
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
      metrics: {
        selectOn: s.selectOn,
        best: this.best,
        last: ev ? { epoch: e1, split: s.selectOn, accuracy: acc, meanClassAccuracy: ev.report.meanClassAccuracy, loss: round(ev.loss) } : { epoch: e1, split: s.selectOn },
        collapse: collapse ? collapseRecord(collapse) : null,
        epochsAtPrior: this.priorWatch.epochsAtPrior,
      },
      version: job.record.version,
    };
    const live = engine.ctx.stats().liveBytes;
    const epochLine: Record<string, unknown> = {
      type: 'epoch',
      stage,
      epoch: e1,
      step: this.step,
      train_loss: round(totals.seen ? totals.lossSum / totals.seen : NaN),
      train_acc: totals.seen ? totals.correct / totals.seen : 0,
      ...(ev ? { [`${s.selectOn}_accuracy`]: acc, best_accuracy: this.best.accuracy } : {}),
      best_epoch: this.best.epoch,
      ...(collapse ? { collapse: collapse.kind } : {}),
    };
    if (!s.deterministic) {
      epochLine.seconds = Math.round(seconds * 100) / 100;
      epochLine.gpu_live_bytes = live;
    }
    // the epoch's metrics lines go out before its checkpoint, the commit point: a run killed in
    // between resumes from the previous checkpoint and drops (then rewrites) this epoch's lines
    store.appendMetrics(JSON.stringify(epochLine));
    const { entries, metadata } = await checkpointEntries(model, this.opt, meta);
    // best before last: until `last` moves on, a resumed run redoes this epoch (and its `best`)
    if (improved) {
      await store.writeCheckpoint('best', entries, metadata);
      this.bestState = hostModelState(entries);
    }
    await store.writeCheckpoint('last', entries, metadata);
    job.hooks?.onEpochEnd?.({
      epoch: e1,
      epochs: s.epochs,
      step: this.step,
      trainLoss: totals.seen ? totals.lossSum / totals.seen : NaN,
      trainAccuracy: totals.seen ? totals.correct / totals.seen : 0,
      eval: ev,
      split: s.selectOn,
      best: this.best,
      improved,
      seconds,
      gpuLiveBytes: live,
      collapse,
    });
    await job.hooks?.afterCheckpoint?.(e1);
  }

  /** The epoch's `eval` metrics line: the selection split's figures. */
  appendEvalLine(e1: number, ev: EvalResult, collapse: CollapseReport | null): void {
    const { job } = this;
    const perClass = Object.fromEntries(job.classNames.map((c, i) => [c, ev.report.perClass[i]]));
    job.store.appendMetrics(
      JSON.stringify({
        type: 'eval',
        stage: this.stage,
        epoch: e1,
        step: this.step,
        split: job.settings.selectOn,
        n: ev.report.n,
        accuracy: ev.report.accuracy,
        mean_class_accuracy: ev.report.meanClassAccuracy,
        loss: round(ev.loss),
        per_class: perClass,
        ...(collapse ? { collapse: collapseRecord(collapse) } : {}),
      }),
    );
  }

  /** The selected epoch's accuracy on the selection split, for the records (null in a refit). */
  selectionAccuracy(): number | null {
    return this.job.selection ? this.best.accuracy : null;
  }

  /** After the last epoch: the selected epoch's weights on the held-out test split, once. */
  async finalTest(): Promise<TestOutcome | null> {
    const { job } = this;
    if (!job.finalTest || this.best.epoch === 0) return null;
    const state = this.bestState ? deviceState(this.bestState) : (job.resume?.bestState ?? null);
    if (!state) throw new Error(`lrdif: train: the weights of the selected epoch ${this.best.epoch} are missing (${job.store.checkpointPath('best')})`);
    try {
      job.model.loadStateDict(state);
    } finally {
      if (this.bestState) for (const t of state.values()) t.dispose();
    }
    const ev = await this.evaluateOn(job.finalTest, this.taps.test);
    const r = ev.report;
    const collapse = predictionCollapse(r, 'test');
    if (collapse) this.lastCollapse = collapse;
    const t: TestOutcome = { epoch: this.best.epoch, selectedOn: job.settings.selectOn, n: r.n, accuracy: r.accuracy, meanClassAccuracy: r.meanClassAccuracy, eval: ev, collapse };
    const perClass = Object.fromEntries(job.classNames.map((c, i) => [c, r.perClass[i]]));
    const record = {
      stage: this.stage,
      selected_epoch: this.best.epoch,
      selected_on: job.settings.selectOn,
      selection_accuracy: this.selectionAccuracy(),
      split: 'test',
      n: r.n,
      accuracy: r.accuracy,
      mean_class_accuracy: r.meanClassAccuracy,
      loss: round(ev.loss),
      per_class: perClass,
      confusion: r.confusion,
      collapse: collapse ? collapseRecord(collapse) : null,
    };
    // no epoch field: a resumed run drops it and tests again
    job.store.appendMetrics(JSON.stringify({ type: 'test', ...record }));
    job.store.writeResult?.({ ...record, class_names: [...job.classNames], steps: this.step, epochs: job.settings.epochs });
    job.hooks?.onTest?.(t);
    return t;
  }

  async run(): Promise<TrainResult> {
    const s = this.job.settings;
    this.restore();
    if (this.startEpoch < s.epochs && this.job.prepareAhead !== false) {
      if (this.job.compileAhead) {
        // the pipelines built one by one as the dry run reaches them, then the list to the helper
        // (built in parallel beside the helper, three cold first steps took 42.5–49.3 s against 33.2–43.8 s)
        this.job.compileAhead.add(this.stepKernels({ build: true }));
      } else {
        // built in parallel (createComputePipelineAsync), not one by one as the step reaches them:
        // a warm tiny first step 1.3 s sooner on lavapipe
        await engine.ctx.prepareKernels(this.stepKernels());
      }
    }
    for (let epoch = this.startEpoch; epoch < s.epochs; epoch++) {
      const t0 = performance.now();
      const totals = await this.trainEpoch(epoch);
      const ev = this.job.selection ? await this.evaluateOn(this.job.selection, this.taps.selection) : null;
      this.lastEval = ev;
      await this.commitEpoch(epoch + 1, totals, ev, t0);
    }
    const test = await this.finalTest();
    if (!test && !this.job.finalTest) {
      this.job.store.writeResult?.({
        stage: this.stage,
        selected_epoch: this.best.epoch,
        selected_on: s.selectOn,
        selection_accuracy: this.selectionAccuracy(),
        protocol: s.selectOn === 'test' ? "the paper's: the epoch with the best test accuracy (optimistic)" : 'no held-out test split',
        collapse: this.lastCollapse ? collapseRecord(this.lastCollapse) : null,
        steps: this.step,
        epochs: s.epochs,
      });
    }
    return {
      epochs: s.epochs,
      steps: this.step,
      best: { epoch: this.best.epoch, accuracy: this.best.accuracy, split: s.selectOn },
      last: this.lastEval,
      test,
      collapse: this.lastCollapse,
    };
  }

  dispose(): void {
    this.textTable.dispose();
    this.classWeights?.dispose();
    this.opt.dispose();
    for (const [, p] of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }
}

function collapseRecord(c: CollapseReport): Record<string, unknown> {
  return { kind: c.kind, split: c.split, class: c.className, share: c.share, epochs: c.epochs };
}

/** The `model.` entries of a checkpoint as a host state (names without the prefix). */
function hostModelState(entries: SafetensorsEntry[]): HostState {
  const m: HostState = new Map();
  for (const e of entries) if (e.name.startsWith('model.')) m.set(e.name.slice(6), { shape: [...e.shape], data: e.data as Float32Array });
  return m;
}

function deviceState(h: HostState): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  for (const [k, v] of h) m.set(k, engine.keep(tensor(v.data, v.shape)));
  return m;
}

/**
 * Trains one stage: per epoch the training steps, an evaluation on the selection split and the
 * epoch's commit (metrics lines, `best` when the selection accuracy improves, then `last`); after
 * the last epoch, the selected weights on the test split, once (when the selection split is val).
 */
export async function trainStage(job: TrainJob): Promise<TrainResult> {
  const run = new StageRun(job);
  try {
    return await run.run();
  } finally {
    run.dispose();
  }
}
