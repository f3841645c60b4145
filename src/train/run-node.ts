/**
 * One training run of one stage in a run folder (Node): resolves the configuration (stage 1
 * from `tiny`/`reference`/a JSON file plus overrides; stage 2 from the stage-1 checkpoint plus
 * the Table 5 switches and T), builds the model (stage 2 initialised from stage 1), prepares
 * the embeddings, writes run.json, and runs `trainStage`. `resume` continues the run folder's
 * last checkpoint with the options saved in its run.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSafetensorsFile } from '../io/safetensors-node.js';
import { LrdifModel } from '../models/lrdif/lrdif.js';
import { makeLrdifConfig, validateLrdifConfig, type LrdifConfig, type LrdifVariant } from '../models/lrdif/config.js';
import { resolveDegradeConfig } from '../data/degrade/index.js';
import type { DatasetKind } from '../data/datasets/index.js';
import type { Split } from '../data/datasets/types.js';
import { CheckpointError, disposeOptimizerState, readCheckpointMeta, readModelState, readOptimizerState, type CheckpointMeta } from './checkpoint.js';
import { configPipelineFields, MODEL_RESIZE, type EmbedProgress, type PipelineSpec } from './pipeline.js';
import { Session, type Log } from './session-node.js';
import { FolderRunStore, RUN_FILES, writeFileAtomic } from './store-node.js';
import { trainStage, type ResumeState, type TrainHooks, type TrainResult, type TrainSettings } from './trainer.js';

/** Everything a `lrdif train` run is given (saved as run.json). */
export interface TrainRunOptions {
  stage: 1 | 2;
  data: string;
  format: DatasetKind;
  testFraction: number;
  splitSeed: number;
  evalSplit: Split;
  /** CLIP folder/file, or null for the tiny random CLIP with `clipSeed`. */
  clip: string | null;
  clipSeed: number;
  /** 'tiny', 'reference' or a JSON file of a (partial) LrdifConfig over `reference`. Stage 1 only. */
  config: string;
  /** Field overrides of the config (stage 1), e.g. from --set. */
  overrides: Partial<LrdifConfig>;
  variant: LrdifVariant | null;
  degradeOnTheFly: boolean;
  /** Partial degradation config (JSON object) for on-the-fly degradation. */
  degradeConfig: unknown;
  degradeSeed: number;
  augment: boolean;
  epochs: number;
  batch: number;
  evalBatch: number;
  lr: number;
  weightDecay: number;
  schedule: 'cosine' | 'constant';
  warmup: number;
  gradClip: number;
  seed: number;
  deterministic: boolean;
  /** Stage 2: the stage-1 checkpoint. */
  from: string | null;
  /** Stage-2 switches (Table 5) and T; undefined keeps the stage-1 checkpoint's value. */
  stage2: Partial<Pick<LrdifConfig, 'timesteps' | 'diffusion' | 'lambdaKl' | 'insertNoise' | 'parameterisation' | 'lambdaL1' | 'tau'>>;
  out: string;
  cacheDir: string | null;
}

export interface RunOutcome {
  result: TrainResult;
  config: LrdifConfig;
  out: string;
  classNames: string[];
}

function readConfigFile(file: string): Partial<LrdifConfig> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`lrdif: train: cannot read the config file ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as Partial<LrdifConfig>;
  } catch (e) {
    throw new Error(`lrdif: train: the config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The stage-1 configuration of a run for a dataset of K classes and a CLIP of width P. */
export function stage1Config(o: Pick<TrainRunOptions, 'config' | 'overrides' | 'variant'>, K: number, P: number): LrdifConfig {
  const base = o.config === 'tiny' || o.config === 'reference' ? o.config : makeLrdifConfig('reference', readConfigFile(o.config));
  const cfg = makeLrdifConfig(base, { ...o.overrides, numClasses: K, clipDim: P, ...(o.variant ? { variant: o.variant } : {}) });
  return cfg;
}

/** Opens a checkpoint and reads its metadata (errors name the file). */
export function openCheckpoint(file: string): { reader: ReturnType<typeof openSafetensorsFile>; meta: CheckpointMeta } {
  if (!fs.existsSync(file)) throw new CheckpointError(file, 'does not exist');
  const reader = openSafetensorsFile(file);
  try {
    return { reader, meta: readCheckpointMeta(reader) };
  } catch (e) {
    reader.close();
    throw e;
  }
}

export function pipelineSpec(o: Pick<TrainRunOptions, 'degradeOnTheFly' | 'degradeConfig' | 'degradeSeed' | 'augment' | 'seed'>, cfg: LrdifConfig): PipelineSpec {
  return {
    imageSize: cfg.imageSize,
    resize: MODEL_RESIZE,
    degrade: o.degradeOnTheFly ? { kind: cfg.variant, config: resolveDegradeConfig(cfg.variant, o.degradeConfig ?? {}), seed: o.degradeSeed } : null,
    augment: o.augment ? {} : null,
    seed: o.seed,
    ...configPipelineFields(cfg),
  };
}

export function settingsOf(o: TrainRunOptions): TrainSettings {
  return {
    stage: o.stage,
    epochs: o.epochs,
    batchSize: o.batch,
    evalBatchSize: o.evalBatch,
    lr: o.lr,
    weightDecay: o.weightDecay,
    schedule: o.schedule,
    warmupSteps: o.warmup,
    gradClip: o.gradClip,
    seed: o.seed,
    deterministic: o.deterministic,
  };
}

export function readRunOptions(out: string): TrainRunOptions {
  const file = path.join(out, RUN_FILES.run);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`lrdif: train --resume: cannot read ${file} (${(e as Error).message}); is ${out} a run folder?`);
  }
  try {
    return JSON.parse(text) as TrainRunOptions;
  } catch (e) {
    throw new Error(`lrdif: train --resume: ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

export interface RunEnv {
  session: Session;
  log: Log;
  hooks?: TrainHooks;
  version: string;
  embedProgress?: (split: Split, p: EmbedProgress) => void;
}

/**
 * Trains one stage. With `resume`, `o` must be the run's saved options (readRunOptions) and the
 * run continues from its last checkpoint.
 */
export async function runTraining(o: TrainRunOptions, env: RunEnv, resume = false): Promise<RunOutcome> {
  const { session, log } = env;
  const store = new FolderRunStore(o.out);
  const lastPath = store.checkpointPath('last');
  if (!resume && fs.existsSync(lastPath)) {
    throw new Error(`lrdif: train: ${o.out} already holds a run (${RUN_FILES.last}); pass --resume to continue it, or choose another --out`);
  }
  if (resume && !fs.existsSync(lastPath)) throw new Error(`lrdif: train --resume: ${lastPath} does not exist (the run wrote no checkpoint yet: start it again without --resume)`);
  const enc = session.encoders;
  const classNames = [...session.dataset.classNames];
  const P = enc.projectionDim;

  let config: LrdifConfig;
  let resumeState: ResumeState | null = null;
  let stage1State: Map<string, import('../autograd/tensor.js').Tensor> | null = null;
  try {
    if (resume) {
      const { reader, meta } = openCheckpoint(lastPath);
      try {
        if (meta.clip.hash !== enc.clipRecord.hash) throw new CheckpointError(lastPath, 'was trained with other CLIP weights than the run options give');
        config = meta.config;
        resumeState = { meta, modelState: readModelState(reader), optimizer: readOptimizerState(reader) };
      } finally {
        reader.close();
      }
      log(`resuming ${o.out} after epoch ${resumeState.meta.epoch} of ${o.epochs} (step ${resumeState.meta.step})`);
    } else if (o.stage === 1) {
      if (o.from) throw new Error('lrdif: train: --from is for stage 2 (the stage-1 checkpoint to start from)');
      config = stage1Config(o, classNames.length, P);
    } else {
      if (!o.from) throw new Error('lrdif: train: stage 2 needs --from <stage-1 checkpoint>');
      const { reader, meta } = openCheckpoint(o.from);
      try {
        if (meta.stage !== 1) throw new CheckpointError(o.from, `is a stage-${meta.stage} checkpoint; --from takes a stage-1 one`);
        if (meta.clip.hash !== enc.clipRecord.hash) {
          throw new CheckpointError(o.from, `was trained with other CLIP weights (sha256 ${meta.clip.hash.slice(0, 12)}…) than this run's (${enc.clipRecord.hash.slice(0, 12)}…); pass the same --clip`);
        }
        if (meta.classNames.join(',') !== classNames.join(',')) {
          throw new CheckpointError(o.from, `has classes ${meta.classNames.join(', ')}; the dataset has ${classNames.join(', ')}`);
        }
        if (o.variant && o.variant !== meta.config.variant) throw new CheckpointError(o.from, `is a '${meta.config.variant}' model; --variant says '${o.variant}'`);
        const s2 = Object.fromEntries(Object.entries(o.stage2).filter(([, v]) => v !== undefined));
        config = validateLrdifConfig({ ...meta.config, ...s2 });
        stage1State = readModelState(reader);
      } finally {
        reader.close();
      }
    }
  } catch (e) {
    if (resumeState) {
      for (const t of resumeState.modelState.values()) t.dispose();
      disposeOptimizerState(resumeState.optimizer);
    }
    throw e;
  }
  if (config.clipDim !== P) throw new Error(`lrdif: train: the config's clipDim is ${config.clipDim} but the CLIP gives P = ${P}`);
  if (config.numClasses !== classNames.length) throw new Error(`lrdif: train: the config has ${config.numClasses} classes, the dataset ${classNames.length}`);

  const model = new LrdifModel(config, { seed: o.seed });
  try {
    if (stage1State) {
      model.loadStage1State(stage1State);
      for (const t of stage1State.values()) t.dispose();
      stage1State = null;
      log(`stage 2 starts from ${o.from} (FPEN_S1 and UDCformer; FPEN_S2 and the denoiser fresh)`);
    }
    const spec = pipelineSpec(o, config);
    const trainTable = await session.table('train', spec, (p) => env.embedProgress?.('train', p));
    const testTable = await session.table(o.evalSplit, spec, (p) => env.embedProgress?.(o.evalSplit, p));
    const textTable = await session.textTable(classNames);
    if (!resume) writeFileAtomic(path.join(o.out, RUN_FILES.run), `${JSON.stringify(o, null, 2)}\n`);
    const clipRecord = await session.clipRecordFor(o.out);
    const pc = model.parameterCount();
    log(
      `stage ${o.stage} (${config.variant === 'lowlight' ? 'LLDif' : 'LRDif'}): ${pc.total.toLocaleString('en')} parameters, ${o.epochs} epochs of ${session.split('train').length} images in batches of ${o.batch}, ` +
        `AdamW lr ${o.lr} (${o.schedule}), weight decay ${o.weightDecay}` +
        (o.stage === 2 ? `; T = ${config.timesteps} (${config.parameterisation}), diffusion ${config.diffusion ? 'on' : 'off'}, loss CE${config.lambdaKl > 0 ? ` + ${config.lambdaKl}·KL` : ''}, insert-noise ${config.insertNoise ? 'on' : 'off'}` : '') +
        (spec.degrade ? `; ${spec.degrade.kind} degradation on the fly (seed ${spec.degrade.seed})` : ''),
    );
    const result = await trainStage({
      model,
      encoders: enc,
      train: session.split('train'),
      test: session.split(o.evalSplit),
      trainTable,
      testTable,
      textTable,
      classNames,
      spec,
      settings: settingsOf(o),
      store,
      record: {
        clip: clipRecord,
        version: env.version,
        train: { data: path.resolve(o.data), format: o.format, evalSplit: o.evalSplit, from: o.from ? path.resolve(o.from) : null, degradeOnTheFly: o.degradeOnTheFly, degrade: spec.degrade, augment: o.augment },
      },
      resume: resumeState,
      hooks: env.hooks,
      tapCaches: { train: session.tapCache('train', spec), test: session.tapCache(o.evalSplit, spec) },
    });
    return { result, config, out: o.out, classNames };
  } finally {
    if (resumeState) {
      for (const t of resumeState.modelState.values()) t.dispose();
      disposeOptimizerState(resumeState.optimizer);
    }
    model.dispose();
  }
}
