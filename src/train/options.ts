/**
 * The options of a training run, declared once (browser-safe). The `lrdif train` and `lrdif sweep`
 * flags, their help and parsing (src/cli/train-flags.ts), `run.json` (the resolved options, what
 * `--resume` continues with), what a resumed run may change, and the trainer's settings all come
 * from `TRAIN_OPTIONS`; a field of `TrainRunOptions` without its declaration does not compile.
 */
import type { DatasetKind } from '../data/datasets/index.js';
import type { LrdifClassBalance, LrdifStage2Train, LrdifImageHead, LrdifVariant } from '../models/lrdif/config.js';

/** How `best` is picked: on the validation split, on the test split (the paper's protocol), or not at all (a refit keeps the last epoch). */
export type SelectOn = 'val' | 'test' | 'last';

/** Everything a `lrdif train` run is given; saved as run.json. Field names are the flags' (camelCase). */
export interface TrainRunOptions {
  stage: 1 | 2;
  data: string;
  format: DatasetKind;
  testFraction: number;
  valFraction: number;
  splitSeed: number;
  /** The label set (canonical class names in label order); null: the classes that have images. */
  classes: string[] | null;
  /**
   * The split that picks `best` each epoch: 'val' (test evaluated once, at the end), 'test' (the
   * paper's protocol) or 'last' (a refit: no validation split, every training image trains, the
   * last epoch is kept and tested once; for an epoch count chosen on validation by an earlier run).
   */
  selectOn: SelectOn;
  /** CLIP folder/file, or null for the tiny random CLIP with `clipSeed`. */
  clip: string | null;
  clipSeed: number;
  /** 'tiny', 'reference' or a JSON file of a (partial) LrdifConfig over `reference`. Stage 1 only. */
  config: string;
  /** Config field overrides (--set field=value). Stage 1 only. */
  set: Record<string, unknown>;
  variant: LrdifVariant | null;
  degradeOnTheFly: boolean;
  /** The partial degradation config read from --degrade-config (its content, so the run does not depend on the file). */
  degradeConfig: Record<string, unknown>;
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
  /** Stage-2 switches (Table 5) and T; null keeps the stage-1 checkpoint's value. */
  timesteps: number | null;
  diffusion: boolean | null;
  loss: 'ce' | 'ce+kl' | null;
  klWeight: number | null;
  insertNoise: boolean | null;
  parameterisation: 'eps' | 'x0' | null;
  /** Stage 2: the cross-entropy's class weighting (null keeps the stage-1 checkpoint's). */
  classBalance: LrdifClassBalance | null;
  /** Stage 2: what it trains ('all', or 'prior': FPEN_S2 and the denoiser); null keeps the checkpoint config's. */
  stage2Train: LrdifStage2Train | null;
  imageHead: LrdifImageHead | null;
  out: string;
  /** The embedding cache folder; null keeps the embeddings in memory. Undefined: the platform's default. */
  cache: string | null | undefined;
}

/** How a flag's value is read. */
export type OptionKind =
  | { type: 'int'; min: number; max?: number }
  | { type: 'number'; min: number; max?: number; exclusiveMin?: boolean }
  | { type: 'choice'; choices: readonly string[] }
  | { type: 'string'; arg: string }
  /** --x, true when given. */
  | { type: 'flag' }
  /** --no-x, true unless given (a stage-2 switch: null unless given). */
  | { type: 'negated' }
  /** --set field=value, repeatable. */
  | { type: 'set' }
  /** --x <file>: the file's JSON object. */
  | { type: 'json-file' }
  /** --cache <dir> / --no-cache. */
  | { type: 'cache' }
  /** --x a,b,c: canonical class names. */
  | { type: 'classes' };

export interface OptionSpec<T> {
  help: string;
  kind: OptionKind;
  default: T;
  /** The stage the option is for (others refuse it). */
  stage?: 1 | 2;
  /** Whether `--resume` accepts a new value ('may-change'), or refuses one that differs from run.json. */
  resume: 'fixed' | 'may-change';
  /** 'shared': also a flag of `lrdif sweep`; 'train': `lrdif train` only. */
  scope: 'shared' | 'train';
  /** Must be given (unless resuming); the default only fills library calls. */
  required?: boolean;
}

type Declarations = { [K in keyof TrainRunOptions]-?: OptionSpec<TrainRunOptions[K]> };

const int = (min: number, max?: number): OptionKind => ({ type: 'int', min, max });
const num = (min: number, max?: number, exclusiveMin = false): OptionKind => ({ type: 'number', min, max, exclusiveMin });
const choice = (...choices: string[]): OptionKind => ({ type: 'choice', choices });

export const TRAIN_OPTIONS: Declarations = {
  stage: { help: 'training stage: 1 (label-aware prior) or 2 (diffusion prior from the image)', kind: int(1, 2), default: 1, resume: 'fixed', scope: 'train', required: true },
  data: { help: 'dataset folder', kind: { type: 'string', arg: 'dir' }, default: '', resume: 'fixed', scope: 'shared', required: true },
  format: { help: 'dataset layout: rafdb, ferplus, kdef or folder', kind: choice('rafdb', 'ferplus', 'kdef', 'folder'), default: 'folder', resume: 'fixed', scope: 'shared' },
  testFraction: { help: 'test share for datasets without a test split (KDEF, class folders)', kind: num(0, 1), default: 0.2, resume: 'fixed', scope: 'shared' },
  valFraction: {
    help: 'share of train carved out (person-disjoint where file names name persons) as the validation split when the dataset has none',
    kind: num(0, 1, true),
    default: 0.15,
    resume: 'fixed',
    scope: 'shared',
  },
  splitSeed: { help: 'seed of the test and validation splits', kind: int(0), default: 0, resume: 'fixed', scope: 'shared' },
  classes: {
    help: 'the label set, canonical class names separated by commas in label order (default: the classes that have images)',
    kind: { type: 'classes' },
    default: null,
    resume: 'fixed',
    scope: 'shared',
  },
  selectOn: {
    help: "the split that picks the best epoch: val (test evaluated once, at the end), test (the paper's protocol: best test epoch, optimistic) or last (a refit: no validation split, the validation images train too, the last of --epochs is kept and tested once; give the epoch count an earlier run chose on val)",
    kind: choice('val', 'test', 'last'),
    default: 'val',
    resume: 'fixed',
    scope: 'shared',
  },
  clip: {
    help: 'CLIP weights (a Hugging Face / OpenCLIP folder or .safetensors file); default: the tiny random CLIP',
    kind: { type: 'string', arg: 'dir' },
    default: null,
    resume: 'fixed',
    scope: 'shared',
  },
  clipSeed: { help: 'seed of the tiny random CLIP', kind: int(0), default: 0, resume: 'fixed', scope: 'shared' },
  config: {
    help: 'tiny, reference, or a JSON file of config fields over reference',
    kind: { type: 'string', arg: 'name' },
    default: 'reference',
    stage: 1,
    resume: 'fixed',
    scope: 'shared',
  },
  set: { help: 'override a config field (repeatable), e.g. --set imageSize=32 --set window=2', kind: { type: 'set' }, default: {}, stage: 1, resume: 'fixed', scope: 'shared' },
  variant: { help: 'udc (LRDif) or lowlight (LLDif): the degradation the model is for', kind: choice('udc', 'lowlight'), default: null, resume: 'fixed', scope: 'shared' },
  degradeOnTheFly: { help: 'degrade the (clean) images per batch, each image with its own seed', kind: { type: 'flag' }, default: false, resume: 'fixed', scope: 'shared' },
  degradeConfig: { help: 'JSON file with a partial degradation config for --degrade-on-the-fly', kind: { type: 'json-file' }, default: {}, resume: 'fixed', scope: 'shared' },
  degradeSeed: { help: 'seed of the on-the-fly degradation', kind: int(0), default: 0, resume: 'fixed', scope: 'shared' },
  augment: { help: 'no random flip and erasing', kind: { type: 'negated' }, default: true, resume: 'fixed', scope: 'shared' },
  epochs: { help: 'epochs', kind: int(1), default: 100, resume: 'may-change', scope: 'train' },
  batch: { help: 'batch size', kind: int(1), default: 64, resume: 'fixed', scope: 'shared' },
  evalBatch: { help: 'evaluation batch size', kind: int(1), default: 64, resume: 'may-change', scope: 'shared' },
  lr: { help: 'AdamW learning rate', kind: num(0, 1, true), default: 3.5e-4, resume: 'fixed', scope: 'shared' },
  weightDecay: { help: 'AdamW weight decay', kind: num(0), default: 1e-4, resume: 'fixed', scope: 'shared' },
  schedule: { help: 'learning-rate schedule: cosine or constant', kind: choice('cosine', 'constant'), default: 'cosine', resume: 'fixed', scope: 'shared' },
  warmup: { help: 'linear warm-up steps', kind: int(0), default: 0, resume: 'fixed', scope: 'shared' },
  gradClip: { help: 'clip the global gradient norm (0: off)', kind: num(0), default: 0, resume: 'fixed', scope: 'shared' },
  seed: { help: 'seed of the weights, order, augmentation and noise', kind: int(0), default: 0, resume: 'fixed', scope: 'shared' },
  deterministic: {
    help: 'no timings in metrics.jsonl (reruns and resumed runs write identical files), no prefetch',
    kind: { type: 'flag' },
    default: false,
    resume: 'fixed',
    scope: 'shared',
  },
  from: { help: 'the stage-1 checkpoint to start from', kind: { type: 'string', arg: 'ckpt' }, default: null, stage: 2, resume: 'fixed', scope: 'train' },
  timesteps: { help: 'diffusion steps T (1…32)', kind: int(1, 32), default: null, stage: 2, resume: 'fixed', scope: 'train' },
  diffusion: { help: 'Ẑ₀ = FPEN_S2(e_img) without diffusion (Table 5, V1)', kind: { type: 'negated' }, default: null, stage: 2, resume: 'fixed', scope: 'train' },
  loss: { help: 'ce (CE only, Table 5 V2) or ce+kl (the method)', kind: choice('ce', 'ce+kl'), default: null, stage: 2, resume: 'fixed', scope: 'train' },
  klWeight: { help: 'λ_kl', kind: num(0), default: null, stage: 2, resume: 'fixed', scope: 'train' },
  insertNoise: { help: 'start the training chain from ε alone (Table 5, V4)', kind: { type: 'negated' }, default: null, stage: 2, resume: 'fixed', scope: 'train' },
  parameterisation: { help: 'the denoiser predicts eps (paper Eq. 16) or x0 (DiffIR)', kind: choice('eps', 'x0'), default: null, stage: 2, resume: 'fixed', scope: 'train' },
  classBalance: {
    help: "stage 2's cross-entropy weighting: none, sqrtInverse or inverse class frequency (default: the stage-1 checkpoint's)",
    kind: choice('none', 'sqrtInverse', 'inverse'),
    default: null,
    stage: 2,
    resume: 'fixed',
    scope: 'train',
  },
  stage2Train: {
    help: "what stage 2 trains: all (FPEN_S2, the denoiser and the UDCformer: the paper's) or prior (FPEN_S2 and the denoiser; the UDCformer keeps stage 1's weights)",
    kind: choice('all', 'prior'),
    default: null,
    stage: 2,
    resume: 'fixed',
    scope: 'train',
  },
  imageHead: {
    help: "linear: stage 2 adds a linear classifier of e_img to the UDCformer's logits (starts at zero); none: the paper's (default: the stage-1 checkpoint's)",
    kind: choice('none', 'linear'),
    default: null,
    stage: 2,
    resume: 'fixed',
    scope: 'train',
  },
  out: { help: 'run folder', kind: { type: 'string', arg: 'run' }, default: '', resume: 'fixed', scope: 'train', required: true },
  cache: {
    help: 'embedding cache folder (default $LRDIF_CACHE_DIR or ~/.cache/lrdif/embeddings)',
    kind: { type: 'cache' },
    default: undefined,
    resume: 'may-change',
    scope: 'shared',
  },
};

export const OPTION_NAMES = Object.keys(TRAIN_OPTIONS) as Array<keyof TrainRunOptions>;

/** The options at their declared defaults, with `given` over them. */
export function runOptions(given: Partial<TrainRunOptions> & Pick<TrainRunOptions, 'data' | 'format' | 'out'>): TrainRunOptions {
  const o = Object.fromEntries(OPTION_NAMES.map((k) => [k, structuredClone(TRAIN_OPTIONS[k].default)])) as unknown as TrainRunOptions;
  return { ...o, ...given };
}

/** `--kebab-case` of an option name. */
export function flagOf(name: string): string {
  const spec = (TRAIN_OPTIONS as Record<string, OptionSpec<unknown> | undefined>)[name];
  const kebab = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return spec && spec.kind.type === 'negated' ? `--no-${kebab}` : `--${kebab}`;
}

/** λ_kl from --loss and --kl-weight (null: keep the checkpoint's). Errors when they contradict. */
export function klWeightOf(o: Pick<TrainRunOptions, 'loss' | 'klWeight'>): number | null {
  if (o.klWeight !== null) {
    if (o.loss === 'ce' && o.klWeight > 0) throw new Error('lrdif: train: --loss ce and --kl-weight > 0 contradict each other');
    return o.klWeight;
  }
  if (o.loss === 'ce') return 0;
  if (o.loss === 'ce+kl') return 1;
  return null;
}

/** Checks what the declarations cannot: presence, stage-only options. */
export function validateRunOptions(o: TrainRunOptions, given: (name: keyof TrainRunOptions) => boolean): void {
  if (o.stage !== 1 && o.stage !== 2) throw new Error('lrdif: train: give --stage 1 or --stage 2 (or --resume --out <run>)');
  if (!o.data) throw new Error('lrdif: train: give --data <dataset folder>');
  if (!o.out) throw new Error('lrdif: train: give --out <run folder>');
  const wrongStage = OPTION_NAMES.filter((k) => TRAIN_OPTIONS[k].stage !== undefined && TRAIN_OPTIONS[k].stage !== o.stage && given(k));
  if (wrongStage.length) {
    const other = o.stage === 1 ? 2 : 1;
    const flags = wrongStage.map(flagOf).join(', ');
    const why = o.stage === 2 ? ' (stage 2 takes its architecture from the stage-1 checkpoint, --from)' : '';
    throw new Error(`lrdif: train: ${flags} ${wrongStage.length > 1 ? 'are' : 'is'} for stage ${other}${why}`);
  }
  if (o.stage === 2 && !o.from) throw new Error('lrdif: train: stage 2 needs --from <stage-1 checkpoint>');
  klWeightOf(o);
}

/** The names of the options a resumed run may change. */
export function resumableOptions(): Array<keyof TrainRunOptions> {
  return OPTION_NAMES.filter((k) => TRAIN_OPTIONS[k].resume === 'may-change');
}

/**
 * The options of a resumed run: run.json's, with the given values of options that may change.
 * A given option that would change anything else is an error naming it.
 */
export function resumeOptions(saved: TrainRunOptions, cli: Partial<TrainRunOptions>, given: (name: keyof TrainRunOptions) => boolean): TrainRunOptions {
  const o: TrainRunOptions = { ...saved };
  const refused: string[] = [];
  for (const k of OPTION_NAMES) {
    if (k === 'out' || !given(k)) continue;
    const v = cli[k];
    if (TRAIN_OPTIONS[k].resume === 'may-change') (o as unknown as Record<string, unknown>)[k] = v;
    else if (JSON.stringify(v) !== JSON.stringify(saved[k])) refused.push(`${flagOf(k)} (the run has ${JSON.stringify(saved[k])})`);
  }
  if (refused.length) {
    throw new Error(
      `lrdif: train --resume continues with the run's own options (run.json); ${refused.join(', ')} would change the run. ` +
        `On --resume only ${resumableOptions().map(flagOf).join(', ')} may change; start a new run (another --out) to change the others`,
    );
  }
  return o;
}

/** What a refit (`lrdif train --refit <run>`) may set itself; everything else comes from the selection run. */
export const REFIT_MAY_SET: ReadonlyArray<keyof TrainRunOptions> = ['out', 'from', 'seed', 'cache', 'evalBatch'];

/**
 * The options of a refit of a selection run: the run's own (run.json), on every training image
 * (selectOn 'last': nothing carved out, the last epoch kept) for the epoch it chose on
 * validation. `--out` names the new run; `--from` the refitted stage-1 checkpoint for a stage-2
 * refit (otherwise it starts from the selection run's stage 1); `--seed`, `--cache` and
 * `--eval-batch` may change. Any other option given is an error naming it.
 */
export function refitOptions(
  run: string,
  saved: TrainRunOptions,
  selected: { epoch: number; on: string },
  cli: Partial<TrainRunOptions>,
  given: (name: keyof TrainRunOptions) => boolean,
): TrainRunOptions {
  if (saved.selectOn !== 'val' || selected.on !== 'val') {
    throw new Error(`lrdif: train --refit: ${run} did not choose its epoch on a validation split (selected on ${selected.on}); refit a run trained with --select-on val`);
  }
  if (!Number.isInteger(selected.epoch) || selected.epoch < 1) throw new Error(`lrdif: train --refit: ${run} records no selected epoch (${JSON.stringify(selected.epoch)})`);
  const refused = OPTION_NAMES.filter((k) => given(k) && !REFIT_MAY_SET.includes(k));
  if (refused.length) {
    throw new Error(
      `lrdif: train --refit takes the selection run's options (${run}/run.json); ${refused.map(flagOf).join(', ')} cannot be given (only ${REFIT_MAY_SET.map(flagOf).join(', ')} may)`,
    );
  }
  const o: TrainRunOptions = { ...saved, selectOn: 'last', epochs: selected.epoch };
  for (const k of REFIT_MAY_SET) if (given(k)) (o as unknown as Record<string, unknown>)[k] = cli[k];
  return o;
}

/**
 * run.json of an earlier version (fields `overrides`, `stage2`, `evalSplit`, `cacheDir`) in
 * today's form: runs started before keep resuming.
 */
export function upgradeRunOptions(raw: Record<string, unknown>): TrainRunOptions {
  const r: Record<string, unknown> = { ...raw };
  if ('overrides' in r && !('set' in r)) r.set = r.overrides;
  if ('stage2' in r && r.stage2 && typeof r.stage2 === 'object') {
    const s2 = r.stage2 as Record<string, unknown>;
    r.timesteps ??= s2.timesteps ?? null;
    r.diffusion ??= s2.diffusion ?? null;
    r.insertNoise ??= s2.insertNoise ?? null;
    r.parameterisation ??= s2.parameterisation ?? null;
    if (s2.lambdaKl !== undefined && r.klWeight === undefined) r.klWeight = s2.lambdaKl;
  }
  if ('evalSplit' in r && !('selectOn' in r)) r.selectOn = r.evalSplit === 'val' ? 'val' : 'test';
  if ('cacheDir' in r && !('cache' in r)) r.cache = r.cacheDir;
  if (!('valFraction' in r)) r.valFraction = r.selectOn === 'val' ? TRAIN_OPTIONS.valFraction.default : 0;
  for (const k of ['overrides', 'stage2', 'evalSplit', 'cacheDir']) delete r[k];
  const o = Object.fromEntries(OPTION_NAMES.map((k) => [k, k in r ? r[k] : structuredClone(TRAIN_OPTIONS[k].default)]));
  return o as unknown as TrainRunOptions;
}

/** The trainer's settings: a subset of the run options, same names. */
export type TrainSettings = Pick<
  TrainRunOptions,
  'stage' | 'epochs' | 'batch' | 'evalBatch' | 'lr' | 'weightDecay' | 'schedule' | 'warmup' | 'gradClip' | 'seed' | 'deterministic' | 'selectOn'
>;

export const SETTING_NAMES: ReadonlyArray<keyof TrainSettings> = [
  'stage',
  'epochs',
  'batch',
  'evalBatch',
  'lr',
  'weightDecay',
  'schedule',
  'warmup',
  'gradClip',
  'seed',
  'deterministic',
  'selectOn',
];

export function settingsOf(o: TrainRunOptions): TrainSettings {
  return Object.fromEntries(SETTING_NAMES.map((k) => [k, o[k]])) as unknown as TrainSettings;
}
