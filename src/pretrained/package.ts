/**
 * Packaging a training run as a shipped model (browser-safe parts): the inference-only
 * checkpoint (the model's tensors and the checkpoint metadata, without the optimiser state and
 * without machine paths) and the model card, built from what the run folder recorded.
 * The file work (reading the run, writing the folder atomically, checking the predictions) is
 * src/pretrained/pretrained-node.ts.
 */
import type { SafetensorsEntry, SafetensorsReader } from '../io/safetensors.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import type { ClipRecord } from '../train/encoders.js';
import { CARD_FORMAT, PRETRAINED_FILES, type BaselineFigures, type PretrainedCard, type PretrainedEntry, type SplitFigures } from './models.js';
import { recipeDifferences, recipeExpect, recipeSteps, shellCommand } from './recipe.js';

/** The model.* tensors and the metadata of a stage-2 checkpoint, for inference only. */
export function inferenceCheckpoint(reader: SafetensorsReader, meta: CheckpointMeta): { entries: SafetensorsEntry[]; metadata: Record<string, string>; parameters: number } {
  const entries: SafetensorsEntry[] = [];
  let parameters = 0;
  for (const name of reader.names()) {
    if (!name.startsWith('model.')) continue;
    const info = reader.info(name);
    if (info.dtype !== 'F32') throw new Error(`lrdif: package: ${reader.file ?? 'checkpoint'}: tensor ${name} is ${info.dtype}, expected F32`);
    const data = reader.getHostArray(name, 'f32');
    parameters += data.length;
    entries.push({ name, dtype: 'F32', shape: [...info.shape], data });
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(reader.metadata)) if (k !== 'optimizer') metadata[k] = v;
  metadata.clip = JSON.stringify(portableClipRecord(meta.clip));
  return { entries, metadata, parameters };
}

/** The CLIP record without the folder of a saved copy on the training machine (meaningless elsewhere). */
export function portableClipRecord(r: ClipRecord): ClipRecord {
  if (r.kind === 'random-tiny') {
    const { path: _where, ...rest } = r;
    return rest;
  }
  return r;
}

/** Whether inference with this config runs CLIP (its image tower is E_I); stage 2 never uses the text tower. */
export function inferenceNeedsClip(config: { imageEncoder: string }): boolean {
  return config.imageEncoder === 'clip';
}

/** The figures of a split from a metrics.jsonl eval line or result.json. */
function figures(o: Record<string, unknown>): SplitFigures {
  const out: SplitFigures = {
    n: o.n as number,
    accuracy: o.accuracy as number,
    mean_class_accuracy: o.mean_class_accuracy as number,
    per_class: o.per_class as Record<string, number>,
  };
  if (Array.isArray(o.confusion)) out.confusion = o.confusion as number[][];
  if (typeof o.loss === 'number') out.loss = o.loss;
  return out;
}

export interface CardInputs {
  entry: PretrainedEntry;
  meta: CheckpointMeta;
  source: string;
  model: { bytes: number; sha256: string; parameters: number };
  runStage1: Record<string, unknown> | null;
  runStage2: Record<string, unknown>;
  /** result.json of the stage-2 run; null for a stand-in from a run that has not finished. */
  result: Record<string, unknown> | null;
  /** For an unfinished run: the epochs it is set to run. */
  plannedEpochs?: number;
  /** metrics.jsonl lines of the stage-2 run (for the validation figures of the selected epoch). */
  metrics: Array<Record<string, unknown>>;
  /** synth.json of the training data (its degradation config), when there. */
  synth: Record<string, unknown> | null;
  baselines: BaselineFigures[];
  verified: { images: number; maxAbsDifference: number; tolerance: number };
  version: string;
}

/** The model card of a packaged run; every figure is read from the run's files. */
export function buildCard(i: CardInputs): PretrainedCard {
  const { meta, result, entry } = i;
  if (result && (result.stage !== 2 || result.split !== 'test'))
    throw new Error(`lrdif: package: result.json of ${i.source} is not a stage-2 test result (stage ${JSON.stringify(result.stage)}, split ${JSON.stringify(result.split)})`);
  const selected = result ? (result.selected_epoch as number) : meta.epoch;
  if (selected !== meta.epoch)
    throw new Error(`lrdif: package: result.json reports epoch ${selected} but the checkpoint holds epoch ${meta.epoch}: package the run's best.safetensors`);
  const unfinished = result ? undefined : `the best epoch so far, ${meta.epoch} of ${i.plannedEpochs ?? '?'}, of a run still training: no test figures yet`;
  const valLine = i.metrics.find((m) => m.type === 'eval' && m.split === 'val' && m.epoch === selected) ?? null;
  const cfg = meta.config as unknown as Record<string, unknown>;
  const needsClip = inferenceNeedsClip(meta.config);
  const expect = recipeExpect(entry.name);
  const differences = [...recipeDifferences(expect.stage1, i.runStage1, 'stage1'), ...recipeDifferences(expect.stage2, i.runStage2, 'stage2')];
  const dataDir = String(i.runStage2.data ?? '');
  const dataName = dataDir.split('/').filter(Boolean).pop() ?? dataDir;
  const synthDegradation = i.synth?.degradation;
  const rng = meta.rng as { seed?: number };
  const limits = [
    `Trained on ${dataName}: faces-real (2,926 in-the-wild face crops with noisy labels, 8 classes, heavily unbalanced: contempt and fear have a handful of images) degraded synthetically by lrdif synth; not on real under-display-camera or low-light photos.`,
    `A tiny config at ${meta.config.imageSize}×${meta.config.imageSize} px (${i.model.parameters.toLocaleString('en')} parameters) trained on a CPU: a working demonstration, far below the paper's models; rare classes are mostly missed (see results.test.per_class).`,
    'Faces are expected as aligned crops (lrdif predict detects and aligns the faces of photos with face-api first).',
    'Labels come from the dataset contributors; the test split is person-disjoint from training.',
  ];
  if (differences.length) limits.unshift(`Not trained with the recipe's exact settings: ${differences.join('; ')}.`);
  if (unfinished) limits.unshift(`A stand-in: ${unfinished}. Package the finished run to replace it.`);
  return {
    format: CARD_FORMAT,
    name: entry.name,
    title: entry.title,
    variant: meta.config.variant,
    classes: [...meta.classNames],
    imageSize: meta.config.imageSize,
    config: cfg,
    model: {
      file: PRETRAINED_FILES.model,
      bytes: i.model.bytes,
      sha256: i.model.sha256,
      parameters: i.model.parameters,
      stage: 2,
      epoch: meta.epoch,
      step: meta.step,
      noiseSeed: typeof rng.seed === 'number' ? rng.seed : 0,
    },
    encoders: {
      image:
        meta.config.imageEncoder === 'faceapi-expression'
          ? "face-api's FaceExpressionNet (pooled 256-d features, frozen), weights from the installed @vladmandic/face-api package"
          : 'CLIP image tower (frozen), shipped in clip/',
      landmarks: "face-api's 68-point landmark net (feature taps, frozen), weights from the installed @vladmandic/face-api package",
      clip: {
        ...portableClipRecord(meta.clip),
        neededForInference: needsClip,
        ...(needsClip ? {} : { note: 'stage 2 reads no text embedding and this config takes E_I from face-api, so inference runs no CLIP' }),
      },
    },
    training: {
      data: {
        name: synthDegradation ? `faces-real, degraded as ${synthDegradation === 'udc' ? 'UDC' : 'low light'} (lrdif synth, seed ${String(i.synth?.seed ?? '?')})` : dataName,
        folder: dataName,
        format: i.runStage2.format,
        split: { testFraction: i.runStage2.testFraction, valFraction: i.runStage2.valFraction, splitSeed: i.runStage2.splitSeed, selectOn: i.runStage2.selectOn },
        synth: i.synth ? { degradation: i.synth.degradation, seed: i.synth.seed, config: i.synth.config } : null,
      },
      recipe: {
        commands: recipeSteps(entry.name, { faces: '<faces-real>', work: '<work>' }).map(shellCommand),
        note: 'scripts/make-pretrained.ts reproduce runs these and packages the result',
      },
      runs: { stage1: i.runStage1, stage2: i.runStage2 },
      matchesRecipe: differences.length === 0,
      differences,
    },
    results: {
      selected_epoch: selected,
      selected_on: String(result ? result.selected_on : (i.runStage2.selectOn ?? 'val')),
      val: valLine ? figures(valLine) : null,
      test: result ? figures(result) : null,
      source: result ? 'result.json and metrics.jsonl of the stage-2 run' : 'metrics.jsonl of the stage-2 run (no result.json yet)',
      ...(unfinished ? { unfinished } : {}),
    },
    baselines: i.baselines,
    limits,
    packaged: { from: i.source, lrdif: i.version, verified: i.verified },
  };
}
