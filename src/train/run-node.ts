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
import { makeLrdifConfig, validateLrdifConfig, type LrdifConfig } from '../models/lrdif/config.js';
import type { Tensor } from '../autograd/tensor.js';
import { resolveDegradeConfig } from '../data/degrade/index.js';
import type { Split } from '../data/datasets/types.js';
import { CheckpointError, disposeOptimizerState, readCheckpointMeta, readModelState, readOptimizerState, type CheckpointMeta } from './checkpoint.js';
import { configPipelineFields, MODEL_RESIZE, type EmbedProgress, type PipelineSpec } from './pipeline.js';
import { Session, type Log } from './session-node.js';
import { FolderRunStore, RUN_FILES, writeFileAtomic } from './store-node.js';
import { trainStage, type ResumeState, type TrainHooks, type TrainResult, type CompileAhead } from './trainer.js';
import { klWeightOf, settingsOf, upgradeRunOptions, type TrainRunOptions } from './options.js';
import { acquireRunLock, checkOutFolder } from './run-lock-node.js';

export type { TrainRunOptions } from './options.js';

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
export function stage1Config(o: Pick<TrainRunOptions, 'config' | 'set' | 'variant'>, K: number, P: number): LrdifConfig {
  const base = o.config === 'tiny' || o.config === 'reference' ? o.config : makeLrdifConfig('reference', readConfigFile(o.config));
  const cfg = makeLrdifConfig(base, { ...(o.set as Partial<LrdifConfig>), numClasses: K, clipDim: P, ...(o.variant ? { variant: o.variant } : {}) });
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

export function readRunOptions(out: string, what = 'train --resume'): TrainRunOptions {
  const file = path.join(out, RUN_FILES.run);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`lrdif: ${what}: cannot read ${file} (${(e as Error).message}); is ${out} a run folder?`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`lrdif: ${what}: ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`lrdif: ${what}: ${file} does not hold a JSON object of run options`);
  const o = upgradeRunOptions(raw as Record<string, unknown>);
  // a run resumes with the classes its checkpoint has (a run.json from before --classes, or a
  // dataset that gained a class since, would otherwise label the data differently)
  const last = path.join(out, RUN_FILES.last);
  if (o.classes === null && fs.existsSync(last)) {
    const { reader, meta } = openCheckpoint(last);
    reader.close();
    o.classes = [...meta.classNames];
  }
  return o;
}

/** How a finished run chose its epoch (its result.json): for `lrdif train --refit`. */
export function readSelection(run: string): { epoch: number; on: string; accuracy: number | null } {
  const file = path.join(run, RUN_FILES.result);
  if (!fs.existsSync(file)) throw new Error(`lrdif: train --refit: ${file} does not exist (the run has not finished: its epoch is chosen after its last one)`);
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`lrdif: train --refit: ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return { epoch: r.selected_epoch as number, on: String(r.selected_on), accuracy: typeof r.selection_accuracy === 'number' ? r.selection_accuracy : null };
}

export interface RunEnv {
  session: Session;
  log: Log;
  hooks?: TrainHooks;
  version: string;
  embedProgress?: (split: Split, p: EmbedProgress) => void;
  /** A helper compiling the run's pipelines ahead (train/compile-ahead-node.ts). */
  compileAhead?: CompileAhead;
  /** TrainJob.prepareAhead: build the first step's pipelines before it (default true). */
  prepareAhead?: boolean;
}

/** The stage-2 config: the stage-1 checkpoint's, with the run's Table 5 switches and T. */
export function stage2Config(o: TrainRunOptions, base: LrdifConfig): LrdifConfig {
  const lambdaKl = klWeightOf(o);
  const s2: Partial<LrdifConfig> = {};
  if (o.timesteps !== null) s2.timesteps = o.timesteps;
  if (o.diffusion !== null) s2.diffusion = o.diffusion;
  if (lambdaKl !== null) s2.lambdaKl = lambdaKl;
  if (o.loss === 'ce') s2.lambdaL1 = 0; // CE only (Table 5, V2): no prior term at all
  if (o.insertNoise !== null) s2.insertNoise = o.insertNoise;
  if (o.parameterisation !== null) s2.parameterisation = o.parameterisation;
  if (o.classBalance !== null) s2.classBalance = o.classBalance;
  if (o.stage2Train !== null) s2.stage2Train = o.stage2Train;
  if (o.imageHead !== null) s2.imageHead = o.imageHead;
  return validateLrdifConfig({ ...base, ...s2 });
}

function disposeState(m: Map<string, Tensor> | null | undefined): void {
  if (m) for (const t of m.values()) t.dispose();
}

/** What the stage trains and what stays frozen, in parameters. */
export function parameterSummary(model: LrdifModel, stage: 1 | 2, frozenEncoders: number, encoderNames: readonly string[] = ['CLIP', 'face-api landmarks']): string {
  const pc = model.parameterCount();
  const n = (v: number) => v.toLocaleString('en');
  const label: Record<string, [string, number]> = {
    fpenS1: ['FPEN_S1', pc.fpenS1],
    fpenS2: ['FPEN_S2', pc.fpenS2],
    denoiser: ['denoiser', pc.denoiser],
    udcformer: ['UDCformer', pc.udcformer],
    imageHead: ['image head', pc.imageHead ?? 0],
  };
  const trains = new Set(model.stageModules(stage).map(([n]) => n));
  const order = (stage === 1 ? ['fpenS1', 'udcformer', 'fpenS2', 'denoiser', 'imageHead'] : ['fpenS2', 'denoiser', 'imageHead', 'udcformer', 'fpenS1']).filter(
    (n) => n !== 'imageHead' || model.imageHead,
  );
  const trained = Object.fromEntries(order.filter((n) => trains.has(n)).map((n) => label[n]));
  const frozen = Object.fromEntries(order.filter((n) => !trains.has(n)).map((n) => label[n]));
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const list = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(', ');
  return (
    `trains ${n(sum(trained))} parameters (${list(trained)}); frozen: ${list(frozen)}` +
    (stage === 1 ? ' (unused until stage 2)' : trains.has('udcformer') ? ' (the target prior)' : ' (the target prior; the UDCformer as stage 1 left it)') +
    `, and the encoders' ${n(frozenEncoders)} (${encoderNames.join(', ')})`
  );
}

/**
 * Trains one stage. With `resume`, `o` must be the run's saved options (readRunOptions) and the
 * run continues from its last checkpoint. Everything that can be checked is checked before the
 * run folder is touched (options, config, checkpoints, splits); then the folder is locked for
 * this process.
 */
export async function runTraining(o: TrainRunOptions, env: RunEnv, resume = false): Promise<RunOutcome> {
  const { session, log } = env;
  checkOutFolder(o.out);
  const store = new FolderRunStore(o.out);
  const lastPath = store.checkpointPath('last');
  if (!resume && fs.existsSync(lastPath)) {
    throw new Error(`lrdif: train: ${o.out} already holds a run (${RUN_FILES.last}); pass --resume to continue it, or choose another --out`);
  }
  if (resume && !fs.existsSync(lastPath)) throw new Error(`lrdif: train --resume: ${lastPath} does not exist (the run wrote no checkpoint yet: start it again without --resume)`);
  const enc = session.encoders;
  const classNames = [...session.dataset.classNames];
  const P = enc.projectionDim;
  // a refit (selectOn 'last') has no selection split: every epoch is kept, the last is tested
  if (o.selectOn === 'last' && session.data.valFraction) {
    throw new Error(
      `lrdif: train: a refit (--select-on last) trains on every training image, but the session carved ${session.data.valFraction} of them out as validation; open it with valFraction 0`,
    );
  }
  const selectSplit: Split | null = o.selectOn === 'last' ? null : o.selectOn;
  // the splits as far as known now; taken again once the embedding tables have read every image
  let train = session.split('train');
  let selection = selectSplit ? session.split(selectSplit) : null;
  let test = o.selectOn !== 'test' ? session.split('test') : null;
  if (train.length === 0) throw new Error(`lrdif: train: the training split of ${o.data} is empty`);
  if (selection && selection.length === 0) {
    throw new Error(
      o.selectOn === 'val'
        ? `lrdif: train: the validation split of ${o.data} is empty (--val-fraction ${o.valFraction} of ${train.length} training images)`
        : `lrdif: train: the test split of ${o.data} is empty (give a dataset with a test split, or a --test-fraction)`,
    );
  }
  if (test && test.length === 0) throw new Error(`lrdif: train: the test split of ${o.data} is empty (give a dataset with a test split, or a --test-fraction)`);

  let config: LrdifConfig;
  let resumeState: ResumeState | null = null;
  let stage1State: Map<string, Tensor> | null = null;
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
      const bestPath = store.checkpointPath('best');
      if (test && fs.existsSync(bestPath)) {
        const best = openCheckpoint(bestPath);
        try {
          resumeState.bestState = readModelState(best.reader);
        } finally {
          best.reader.close();
        }
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
          throw new CheckpointError(
            o.from,
            `was trained with other CLIP weights (sha256 ${meta.clip.hash.slice(0, 12)}…) than this run's (${enc.clipRecord.hash.slice(0, 12)}…); pass the same --clip`,
          );
        }
        if (meta.classNames.join(',') !== classNames.join(',')) {
          throw new CheckpointError(o.from, `has classes ${meta.classNames.join(', ')}; the dataset has ${classNames.join(', ')}`);
        }
        if (o.variant && o.variant !== meta.config.variant) throw new CheckpointError(o.from, `is a '${meta.config.variant}' model; --variant says '${o.variant}'`);
        config = stage2Config(o, meta.config);
        stage1State = readModelState(reader);
      } finally {
        reader.close();
      }
    }
    if (config.clipDim !== P) throw new Error(`lrdif: train: the config's clipDim is ${config.clipDim} but the CLIP gives P = ${P}`);
    if (config.numClasses !== classNames.length) throw new Error(`lrdif: train: the config has ${config.numClasses} classes, the dataset ${classNames.length}`);
  } catch (e) {
    if (resumeState) {
      disposeState(resumeState.modelState);
      disposeState(resumeState.bestState);
      disposeOptimizerState(resumeState.optimizer);
    }
    disposeState(stage1State);
    throw e;
  }

  // everything checked: from here on the run folder is this process's
  const lock = acquireRunLock(o.out, (m) => process.stderr.write(`${m}\n`));
  const model = new LrdifModel(config, { seed: o.seed });
  try {
    if (stage1State) {
      model.loadStage1State(stage1State);
      disposeState(stage1State);
      stage1State = null;
      log(`stage 2 starts from ${o.from} (FPEN_S1 and UDCformer; FPEN_S2 and the denoiser fresh)`);
    }
    const spec = pipelineSpec(o, config);
    const trainTable = await session.table('train', spec, (p) => env.embedProgress?.('train', p));
    const selectionTable = selectSplit ? await session.table(selectSplit, spec, (p) => env.embedProgress?.(selectSplit, p)) : null;
    const testTable = test ? await session.table('test', spec, (p) => env.embedProgress?.('test', p)) : null;
    const textTable = await session.textTable(classNames);
    // without the images the tables found unreadable: what the run counts is what it uses
    train = session.split('train');
    selection = selectSplit ? session.split(selectSplit) : null;
    test = test ? session.split('test') : null;
    if (train.length === 0 || (selection && selection.length === 0) || (test && test.length === 0)) {
      throw new Error(`lrdif: train: no readable image is left in the ${train.length === 0 ? 'training' : selection?.length === 0 ? selectSplit : 'test'} split of ${o.data}`);
    }
    // a resumed run writes it again: --epochs, --eval-batch and --cache may have changed
    writeFileAtomic(path.join(o.out, RUN_FILES.run), `${JSON.stringify(o, null, 2)}\n`);
    const clipRecord = await session.clipRecordFor(o.out);
    log(
      `stage ${o.stage} (${config.variant === 'lowlight' ? 'LLDif' : 'LRDif'}): ${parameterSummary(model, o.stage, enc.parameterCount(), enc.names())}. ` +
        `${o.epochs} epochs of ${train.length} images in batches of ${o.batch}, AdamW lr ${o.lr} (${o.schedule}), weight decay ${o.weightDecay}; ` +
        (o.selectOn === 'val'
          ? `the best epoch is chosen on ${selection!.length} validation images, then tested once on ${test!.length} test images`
          : o.selectOn === 'test'
            ? `the best epoch is chosen on the ${selection!.length} test images (the paper's protocol; optimistic)`
            : `a refit: no validation split, the last of the ${o.epochs} epochs is kept and tested once on ${test!.length} test images`) +
        (o.stage === 2
          ? `; T = ${config.timesteps} (${config.parameterisation}), diffusion ${config.diffusion ? 'on' : 'off'}, loss CE${config.lambdaKl > 0 ? ` + ${config.lambdaKl}·KL` : ''}, insert-noise ${config.insertNoise ? 'on' : 'off'}`
          : '') +
        (spec.degrade ? `; ${spec.degrade.kind} degradation on the fly (seed ${spec.degrade.seed})` : ''),
    );
    const result = await trainStage({
      model,
      encoders: enc,
      train,
      trainTable,
      selection: selection && selectionTable ? { split: selection, table: selectionTable } : null,
      finalTest: test && testTable ? { split: test, table: testTable } : null,
      textTable,
      classNames,
      spec,
      settings: settingsOf(o),
      store,
      record: {
        clip: clipRecord,
        version: env.version,
        train: {
          data: path.resolve(o.data),
          format: o.format,
          selectOn: o.selectOn,
          valFraction: o.valFraction,
          splitSeed: o.splitSeed,
          from: o.from ? path.resolve(o.from) : null,
          degradeOnTheFly: o.degradeOnTheFly,
          degrade: spec.degrade,
          augment: o.augment,
        },
      },
      resume: resumeState,
      hooks: env.hooks,
      compileAhead: env.compileAhead,
      prepareAhead: env.prepareAhead,
      tapCaches: { train: session.tapCache('train', spec), selection: session.tapCache(selectSplit ?? 'test', spec), test: session.tapCache('test', spec) },
    });
    return { result, config, out: o.out, classNames };
  } finally {
    if (resumeState) {
      disposeState(resumeState.modelState);
      disposeState(resumeState.bestState);
      disposeOptimizerState(resumeState.optimizer);
    }
    model.dispose();
    lock.release();
  }
}
