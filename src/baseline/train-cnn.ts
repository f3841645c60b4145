/**
 * Training and evaluation of the baseline CNN (browser-safe; files go through a store).
 *
 * Per epoch: the DataLoader's seeded order, each batch through cnnBatch (LRDif's degradation and
 * augmentation), one AdamW step on cross-entropy, then the model-selection evaluation:
 *   - 'val':  the validation split after every epoch; the checkpoint with the best validation
 *             accuracy (ties: the lower validation loss) is kept (the honest protocol: test is not looked at until the end);
 *   - 'last': no selection, the last epoch;
 *   - 'test': the test split after every epoch, the best test epoch (the paper's protocol:
 *             optimistic, reported as such).
 * After the last epoch the selected weights are evaluated once on the test split.
 *
 * `best` (the selected epoch so far) and `last` are written through the store every epoch; a
 * NaN or Inf loss stops the run before the weights change, naming the step. Tensors of a step are
 * freed at its end.
 */
import { noGrad, tidy, engine } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { backward } from '../autograd/backward.js';
import { argmax } from '../kernels/reduce.js';
import { crossEntropy } from '../kernels/loss.js';
import { softmax } from '../kernels/softmax.js';
import { mirrorImages } from '../kernels/augment.js';
import { checkTta, meanViewProbabilities, nllSum, type TestTimeAugmentation } from '../train/tta.js';
import { DataLoader } from '../data/loader.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import { AdamW } from '../optim/adamw.js';
import { cosineSchedule, type Schedule } from '../optim/schedule.js';
import { argmaxRows, classificationReport, type ClassificationReport } from '../train/metrics.js';
import type { IndexedSplit, PipelineSpec } from '../train/pipeline.js';
import { cnnBatch } from './batch.js';
import type { BaselineCnn } from './cnn.js';
import { cnnCheckpointMetadata, cnnStateEntries, loadCnnEntries } from './checkpoint.js';

export type Selection = 'val' | 'last' | 'test';

export interface CnnTrainSettings {
  epochs: number;
  batchSize: number;
  evalBatchSize: number;
  lr: number;
  weightDecay: number;
  schedule: 'cosine' | 'constant';
  warmupSteps: number;
  seed: number;
  selection: Selection;
  /** No timings in the metrics lines, no prefetch. */
  deterministic: boolean;
  /** Test-time augmentation of every evaluation, selection and test (default none). */
  tta?: TestTimeAugmentation;
}

export interface CnnStore {
  writeCheckpoint(which: 'last' | 'best', entries: SafetensorsEntry[], metadata: Record<string, string>): void | Promise<void>;
  appendMetrics(line: string): void;
  rewriteMetrics(lines: string[]): void;
}

export interface CnnStepInfo {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  step: number;
  loss: number;
  accuracy: number;
  lr: number;
  imagesPerSecond: number;
}

export interface CnnEpochInfo {
  epoch: number;
  epochs: number;
  trainLoss: number;
  trainAccuracy: number;
  /** The selection split's report this epoch (null for 'last'). */
  selectionReport: ClassificationReport | null;
  selected: { epoch: number; accuracy: number | null };
  improved: boolean;
  seconds: number;
}

export interface CnnTrainHooks {
  onEpochStart?: (epoch: number, epochs: number, batches: number) => void;
  onStep?: (s: CnnStepInfo) => void;
  onEvalBatch?: (split: 'val' | 'test', done: number, total: number) => void;
  onEpochEnd?: (e: CnnEpochInfo) => void;
}

export interface CnnTrainJob {
  model: BaselineCnn;
  train: IndexedSplit;
  /** The split models are selected on ('val' or, with the paper's protocol, 'test'); null for 'last'. */
  select: IndexedSplit | null;
  test: IndexedSplit;
  classNames: readonly string[];
  spec: PipelineSpec;
  settings: CnnTrainSettings;
  store: CnnStore;
  /** Recorded in the checkpoints. */
  record: { version: string; data: Record<string, unknown> };
  hooks?: CnnTrainHooks;
}

export interface CnnEvalResult {
  report: ClassificationReport;
  /** Mean cross-entropy. */
  loss: number;
  /** [n, K] softmax probabilities in the order of `local`. */
  probabilities: Float32Array;
  labels: Int32Array;
  local: number[];
}

export interface CnnTrainResult {
  steps: number;
  selected: { epoch: number; split: Selection; accuracy: number | null; meanClassAccuracy: number | null };
  /** Per epoch: train loss and accuracy, and the selection split's accuracy (null for 'last'). */
  history: Array<{ epoch: number; trainLoss: number; trainAccuracy: number; selectAccuracy: number | null; selectMeanClassAccuracy: number | null; seconds: number }>;
  /** The selected weights on the test split, evaluated once after training. */
  test: CnnEvalResult;
  seconds: number;
}

export class CnnDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CnnDivergedError';
  }
}

/**
 * Predictions of the model on a split (no training augmentation, evaluation mode, no
 * gradients); `tta: 'flip'` scores the mean of each image's and its mirror image's probabilities.
 */
export async function evaluateCnn(
  model: BaselineCnn,
  split: IndexedSplit,
  spec: PipelineSpec,
  classNames: readonly string[],
  opts: { batchSize?: number; prefetch?: boolean; tta?: TestTimeAugmentation; onBatch?: (done: number, total: number) => void } = {},
): Promise<CnnEvalResult> {
  const K = model.config.numClasses;
  const tta = checkTta('baseline', opts.tta ?? 'none');
  if (classNames.length !== K) throw new Error(`lrdif: baseline: ${classNames.length} class names for a CNN of ${K} classes`);
  const wasTraining = model.training;
  model.eval();
  const loader = new DataLoader(split.dataset, {
    batchSize: opts.batchSize ?? 64,
    size: spec.imageSize,
    shuffle: false,
    augment: false,
    resize: spec.resize,
    prefetch: opts.prefetch ?? true,
  });
  const probs: Float32Array[] = [];
  const labels: number[] = [];
  const local: number[] = [];
  let lossSum = 0;
  let done = 0;
  try {
    for await (const b of loader.epoch(0)) {
      const cb = cnnBatch(b, split, spec, null);
      try {
        if (tta === 'flip') {
          const p = noGrad(() => tidy(() => meanViewProbabilities(model.forward(cb.x), model.forward(mirrorImages(cb.x)))));
          const pv = new Float32Array((await p.data()) as Float32Array);
          probs.push(pv);
          lossSum += nllSum(pv, cb.labelValues, K);
          p.dispose();
        } else {
          const { p, ce } = noGrad(() =>
            tidy(() => {
              const logits = model.forward(cb.x);
              return { p: softmax(logits, -1), ce: crossEntropy(logits, cb.labels) };
            }),
          );
          probs.push(new Float32Array((await p.data()) as Float32Array));
          lossSum += (await ce.item()) * cb.size;
          p.dispose();
          ce.dispose();
        }
        labels.push(...cb.labelValues);
        local.push(...cb.local);
      } finally {
        cb.x.dispose();
        b.dispose();
      }
      done += b.indices.length;
      opts.onBatch?.(done, split.length);
    }
  } finally {
    model.train(wasTraining);
  }
  const probabilities = new Float32Array(probs.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of probs) {
    probabilities.set(p, o);
    o += p.length;
  }
  const report = classificationReport(argmaxRows(probabilities, K), labels, classNames);
  return { report, loss: labels.length ? lossSum / labels.length : NaN, probabilities, labels: Int32Array.from(labels), local };
}

function scheduleOf(s: CnnTrainSettings, totalSteps: number): Schedule {
  if (s.schedule === 'constant' || totalSteps <= s.warmupSteps) return (step) => (step < s.warmupSteps ? (s.lr * (step + 1)) / s.warmupSteps : s.lr);
  return cosineSchedule({ baseLr: s.lr, totalSteps, warmupSteps: s.warmupSteps });
}

const finite = (v: number) => (Number.isFinite(v) ? v : String(v));

export async function trainCnn(job: CnnTrainJob): Promise<CnnTrainResult> {
  const { model, settings: s, store, spec } = job;
  const K = model.config.numClasses;
  if (job.classNames.length !== K) throw new Error(`lrdif: baseline: ${job.classNames.length} class names for a CNN of ${K} classes`);
  if (job.train.length === 0) throw new Error('lrdif: baseline: the training split is empty');
  if (job.test.length === 0) throw new Error('lrdif: baseline: the test split is empty (give a dataset with a test split, or a --test-fraction)');
  if (s.selection !== 'last' && (!job.select || job.select.length === 0)) {
    throw new Error(`lrdif: baseline: selection on '${s.selection}' needs a non-empty ${s.selection} split`);
  }
  if (!Number.isInteger(s.epochs) || s.epochs < 1) throw new Error(`lrdif: baseline: epochs must be an integer ≥ 1, got ${s.epochs}`);
  const t0 = performance.now();
  model.train();
  const params = model.namedParameters();
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
  const lrAt = scheduleOf(s, s.epochs * batches);
  const selectSplit: 'val' | 'test' = s.selection === 'test' ? 'test' : 'val';
  let step = 0;
  let selected: CnnTrainResult['selected'] = { epoch: 0, split: s.selection, accuracy: null, meanClassAccuracy: null };
  let selectedEntries: SafetensorsEntry[] | null = null;
  let selectedLoss = Infinity;
  const history: CnnTrainResult['history'] = [];
  store.rewriteMetrics([]);
  try {
    for (let epoch = 0; epoch < s.epochs; epoch++) {
      const e1 = epoch + 1;
      job.hooks?.onEpochStart?.(e1, s.epochs, batches);
      model.train();
      const te = performance.now();
      let windowT = te;
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for await (const b of loader.epoch(epoch)) {
        const cb = cnnBatch(b, job.train, spec, epoch);
        let out: { loss: Tensor; pred: Tensor } | null = null;
        try {
          const lr = lrAt(step);
          out = tidy(() => {
            const logits = model.forward(cb.x);
            return { loss: crossEntropy(logits, cb.labels), pred: noGrad(() => argmax(logits, 1)) };
          });
          backward(out.loss);
          const loss = await out.loss.item();
          if (!Number.isFinite(loss)) {
            opt.zeroGrad();
            store.appendMetrics(JSON.stringify({ type: 'diverged', epoch: e1, batch: b.index + 1, step: step + 1, loss: String(loss) }));
            throw new CnnDivergedError(
              `lrdif: baseline: the CNN's loss is ${loss} at step ${step + 1} (epoch ${e1}, batch ${b.index + 1} of ${batches}); stopped before updating the weights. Try a lower --lr.`,
            );
          }
          opt.lr = lr;
          opt.step();
          opt.zeroGrad();
          step++;
          const pred = (await out.pred.data()) as Int32Array;
          let ok = 0;
          for (let i = 0; i < pred.length; i++) if (pred[i] === cb.labelValues[i]) ok++;
          lossSum += loss * cb.size;
          correct += ok;
          seen += cb.size;
          const now = performance.now();
          const ips = (cb.size * 1000) / Math.max(1e-6, now - windowT);
          windowT = now;
          const line: Record<string, unknown> = { type: 'step', epoch: e1, batch: b.index + 1, step, loss: finite(loss), acc: ok / cb.size, lr, images: cb.size };
          if (!s.deterministic) line.images_per_s = Math.round(ips * 100) / 100;
          store.appendMetrics(JSON.stringify(line));
          job.hooks?.onStep?.({ epoch: e1, epochs: s.epochs, batch: b.index + 1, batches, step, loss, accuracy: ok / cb.size, lr, imagesPerSecond: ips });
        } finally {
          out?.loss.dispose();
          out?.pred.dispose();
          engine.clearTape();
          cb.x.dispose();
          b.dispose();
        }
      }
      let report: ClassificationReport | null = null;
      let improved = false;
      if (job.select && s.selection !== 'last') {
        const ev = await evaluateCnn(model, job.select, spec, job.classNames, {
          batchSize: s.evalBatchSize,
          prefetch: !s.deterministic,
          tta: s.tta,
          onBatch: (d, t) => job.hooks?.onEvalBatch?.(selectSplit, d, t),
        });
        report = ev.report;
        store.appendMetrics(
          JSON.stringify({
            type: 'eval',
            epoch: e1,
            step,
            split: selectSplit,
            n: report.n,
            accuracy: report.accuracy,
            mean_class_accuracy: report.meanClassAccuracy,
            loss: finite(ev.loss),
          }),
        );
        // a tie in accuracy goes to the lower loss (as lrdif train does)
        improved = selected.accuracy === null || report.accuracy > selected.accuracy || (report.accuracy === selected.accuracy && ev.loss < selectedLoss);
        if (improved) selectedLoss = ev.loss;
      } else {
        improved = true;
      }
      if (improved) selected = { epoch: e1, split: s.selection, accuracy: report?.accuracy ?? null, meanClassAccuracy: report?.meanClassAccuracy ?? null };
      const seconds = (performance.now() - te) / 1000;
      const trainLoss = seen ? lossSum / seen : NaN;
      const trainAccuracy = seen ? correct / seen : 0;
      history.push({ epoch: e1, trainLoss, trainAccuracy, selectAccuracy: report?.accuracy ?? null, selectMeanClassAccuracy: report?.meanClassAccuracy ?? null, seconds });
      const epochLine: Record<string, unknown> = {
        type: 'epoch',
        epoch: e1,
        step,
        train_loss: finite(trainLoss),
        train_acc: trainAccuracy,
        selection: s.selection,
        select_accuracy: report?.accuracy ?? null,
        selected_epoch: selected.epoch,
      };
      if (!s.deterministic) epochLine.seconds = Math.round(seconds * 100) / 100;
      store.appendMetrics(JSON.stringify(epochLine));
      const entries = await cnnStateEntries(model);
      const metadata = cnnCheckpointMetadata({
        config: model.config,
        classNames: [...job.classNames],
        epoch: e1,
        step,
        selection: { split: s.selection, epoch: selected.epoch, accuracy: selected.accuracy },
        metrics: { train_loss: finite(trainLoss), train_acc: trainAccuracy, select_accuracy: report?.accuracy ?? null },
        settings: {
          ...s,
          imageSize: spec.imageSize,
          augment: spec.augment,
          degrade: spec.degrade ? { kind: spec.degrade.kind, seed: spec.degrade.seed } : null,
          data: job.record.data,
        },
        version: job.record.version,
      });
      if (improved) {
        selectedEntries = entries;
        await store.writeCheckpoint('best', entries, metadata);
      }
      await store.writeCheckpoint('last', entries, metadata);
      job.hooks?.onEpochEnd?.({
        epoch: e1,
        epochs: s.epochs,
        trainLoss,
        trainAccuracy,
        selectionReport: report,
        selected: { epoch: selected.epoch, accuracy: selected.accuracy },
        improved,
        seconds,
      });
    }
    // the selected weights, scored once on test
    if (selectedEntries) loadCnnEntries(model, selectedEntries);
    const test = await evaluateCnn(model, job.test, spec, job.classNames, {
      batchSize: s.evalBatchSize,
      prefetch: !s.deterministic,
      tta: s.tta,
      onBatch: (d, t) => job.hooks?.onEvalBatch?.('test', d, t),
    });
    store.appendMetrics(
      JSON.stringify({
        type: 'test',
        epoch: selected.epoch,
        selection: s.selection,
        n: test.report.n,
        accuracy: test.report.accuracy,
        mean_class_accuracy: test.report.meanClassAccuracy,
        loss: finite(test.loss),
      }),
    );
    return { steps: step, selected, history, test, seconds: (performance.now() - t0) / 1000 };
  } finally {
    opt.dispose();
    for (const [, p] of params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }
}
