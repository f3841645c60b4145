/**
 * How the shipped models are trained (browser-safe data): the exact `lrdif` commands, from the
 * real faces to the stage-2 checkpoint, and the run settings they record in run.json (which the
 * packaging script compares with the run it packages, so a card says when a model was trained
 * otherwise).
 *
 *   1. lrdif synth: faces-real degraded as the model's camera (seed 0);
 *   2. stage 1 (the label-conditioned prior, tiny config at 32 px, window 2; per-image exposure
 *      normalisation of the input, face-api's pretrained expression net as the frozen image
 *      encoder E_I, the cross-entropy weighted by the classes' inverse square-root frequency);
 *   3. stage 2 (the diffusion prior from the image alone, x0 parameterisation, T = 4), from
 *      stage 1's checkpoint.
 * Both stages are refits (`--select-on last`): they train on every training image, validation's
 * included, for the epoch counts that runs of the same recipe chose on the validation split
 * (`--select-on val`; `refitEpochs` below), and keep the last epoch. The test split is read once.
 *
 * On a 2-core CPU with Mesa's lavapipe the two runs take some hours each (the embedding cache,
 * shared by the steps, makes the second model's cache misses the only repeated work).
 */
import type { PretrainedName } from './models.js';

export interface RecipePaths {
  /** The real faces (faces-real: train/ and test/ class folders). */
  faces: string;
  /** Working folder: degraded data, runs, embedding cache. */
  work: string;
}

export interface RecipeStep {
  what: string;
  /** Arguments of `lrdif`. */
  args: string[];
}

/** Settings each run's run.json must hold for the run to follow the recipe. */
export interface RecipeExpect {
  stage1: Record<string, unknown>;
  stage2: Record<string, unknown>;
}

/**
 * The epochs of each refit: what the selection runs (the same commands with `--select-on val`,
 * stage 1 for 5 epochs, stage 2 for 8) chose on the 425-image validation split. UDC: stage 1
 * epoch 5, stage 2 epoch 6 (60.9 % on val); low light: 4 and 4 (61.9 %). Stage 2's settings were
 * chosen there too (augmentation and the linear image head: UDC 56.7 % without the head, 59.3 %
 * with it, 60.9 % with it and augmentation; low light 54.6, 58.8, 61.9 %; README's research log).
 */
export function refitEpochs(name: PretrainedName): { stage1: number; stage2: number } {
  return name === 'udc' ? { stage1: 5, stage2: 6 } : { stage1: 4, stage2: 4 };
}
const COMMON_EXPECT = {
  format: 'folder',
  batch: 32,
  lr: 0.001,
  schedule: 'constant',
  testFraction: 0.2,
  selectOn: 'last',
  splitSeed: 0,
  seed: 0,
  clip: null,
  clipSeed: 0,
  degradeOnTheFly: false,
};

/** Data folder name of a model's degraded faces under `work/data/`. */
export function recipeDataName(name: PretrainedName): string {
  return name === 'udc' ? 'faces-udc' : 'faces-lowlight';
}

export function recipeSteps(name: PretrainedName, p: RecipePaths): RecipeStep[] {
  const data = `${p.work}/data/${recipeDataName(name)}`;
  const run = `${p.work}/runs/${name}`;
  const common = ['--data', data, '--format', 'folder', '--batch', '32', '--lr', '1e-3', '--schedule', 'constant', '--select-on', 'last', '--plain', '--cache', `${p.work}/cache`];
  const epochs = refitEpochs(name);
  const variant = name === 'lowlight' ? ['--variant', 'lowlight'] : [];
  return [
    {
      what: `degrade faces-real as ${name === 'udc' ? 'an under-display camera' : 'low light'} sees it`,
      args: ['synth', '--degradation', name, '--data', p.faces, '--format', 'folder', '--out', data, '--seed', '0', '--plain'],
    },
    {
      what: 'stage 1',
      args: [
        'train',
        '--stage',
        '1',
        ...common,
        '--config',
        'tiny',
        '--set',
        'imageSize=32',
        '--set',
        'window=2',
        '--no-augment',
        '--epochs',
        String(epochs.stage1),
        '--set',
        'inputNorm=exposure',
        '--set',
        'imageEncoder=faceapi-expression',
        '--set',
        'classBalance=sqrtInverse',
        ...variant,
        '--out',
        `${run}/s1`,
      ],
    },
    {
      what: 'stage 2',
      args: [
        'train',
        '--stage',
        '2',
        ...common,
        '--from',
        `${run}/s1/best.safetensors`,
        '--epochs',
        String(epochs.stage2),
        '--parameterisation',
        'x0',
        '--timesteps',
        '4',
        '--image-head',
        'linear',
        ...variant,
        '--out',
        `${run}/s2`,
      ],
    },
  ];
}

/** The run folder (stage 2) the recipe writes. */
export function recipeRunDir(name: PretrainedName, p: RecipePaths): string {
  return `${p.work}/runs/${name}/s2`;
}

export function recipeExpect(name: PretrainedName): RecipeExpect {
  const variant = name === 'lowlight' ? 'lowlight' : null;
  const epochs = refitEpochs(name);
  return {
    stage1: {
      ...COMMON_EXPECT,
      stage: 1,
      config: 'tiny',
      set: { imageSize: 32, window: 2, inputNorm: 'exposure', imageEncoder: 'faceapi-expression', classBalance: 'sqrtInverse' },
      variant,
      epochs: epochs.stage1,
      augment: false,
    },
    stage2: { ...COMMON_EXPECT, stage: 2, epochs: epochs.stage2, augment: true, parameterisation: 'x0', timesteps: 4, imageHead: 'linear', variant },
  };
}

/** A shell form of a step (arguments with spaces or quotes quoted). */
export function shellCommand(step: RecipeStep): string {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['lrdif', ...step.args].map(q).join(' ');
}

/** The differences between a run's run.json and the recipe's settings ("stage1.set.classBalance: 'none', recipe 'sqrtInverse'"). */
export function recipeDifferences(expect: Record<string, unknown>, got: Record<string, unknown> | null, label: string): string[] {
  if (!got) return [`${label}: no run.json found`];
  const out: string[] = [];
  for (const [k, want] of Object.entries(expect)) {
    const have = got[k];
    if (want !== null && typeof want === 'object') {
      const h = (have ?? {}) as Record<string, unknown>;
      for (const [kk, ww] of Object.entries(want as Record<string, unknown>)) {
        if (JSON.stringify(h[kk]) !== JSON.stringify(ww)) out.push(`${label}.${k}.${kk}: ${JSON.stringify(h[kk] ?? null)}, recipe ${JSON.stringify(ww)}`);
      }
      for (const kk of Object.keys(h)) if (!(kk in (want as object))) out.push(`${label}.${k}.${kk}: ${JSON.stringify(h[kk])}, not in the recipe`);
    } else if (JSON.stringify(have ?? null) !== JSON.stringify(want)) out.push(`${label}.${k}: ${JSON.stringify(have ?? null)}, recipe ${JSON.stringify(want)}`);
  }
  return out;
}
