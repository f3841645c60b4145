/**
 * The pretrained models shipped with lrdif (browser-safe): their names, folders and files, and
 * the model card (card.json) each carries.
 *
 * A shipped model is a folder `assets/models/<folder>/` with
 *   model.safetensors  the stage-2 LRDif checkpoint for inference: the model's weights and the
 *                      checkpoint metadata (config, class names, encoder record), no optimiser
 *                      state (src/pretrained/package.ts);
 *   card.json          the model card: what it is, how it was trained, its figures (copied from
 *                      the training run's result.json by the packaging script, never typed).
 * Inference also needs face-api's landmark (and, for the configs that use it, expression)
 * weights, which come from the installed @vladmandic/face-api package, and, only for configs
 * whose image encoder is CLIP, the CLIP the model was trained with (then a `clip/` folder).
 */

export const PRETRAINED_NAMES = ['udc', 'lowlight'] as const;
export type PretrainedName = (typeof PRETRAINED_NAMES)[number];
export const DEFAULT_PRETRAINED: PretrainedName = 'udc';

export interface PretrainedEntry {
  name: PretrainedName;
  /** Folder under assets/models/. */
  folder: string;
  /** The degradation it was trained for (the config's variant). */
  variant: 'udc' | 'lowlight';
  title: string;
}

export const PRETRAINED_MODELS: Readonly<Record<PretrainedName, PretrainedEntry>> = Object.freeze({
  udc: { name: 'udc', folder: 'lrdif-udc', variant: 'udc', title: 'LRDif, under-display camera faces' },
  lowlight: { name: 'lowlight', folder: 'lldif-lowlight', variant: 'lowlight', title: 'LLDif, low-light faces' },
});

/** Folder of the shipped models, relative to the package root. */
export const PRETRAINED_DIR = 'assets/models';
export const PRETRAINED_FILES = { model: 'model.safetensors', card: 'card.json', clip: 'clip' } as const;
export const CARD_FORMAT = 'lrdif-pretrained-card/1';

export class PretrainedError extends Error {
  constructor(message: string) {
    super(`lrdif: ${message}`);
    this.name = 'PretrainedError';
  }
}

/** The entry of a model name (`udc`, `lowlight`), or an error listing the names. */
export function pretrainedEntry(name: string): PretrainedEntry {
  if (!(PRETRAINED_NAMES as readonly string[]).includes(name)) {
    throw new PretrainedError(`no shipped model '${name}': the shipped models are ${PRETRAINED_NAMES.map((n) => `'${n}'`).join(', ')}`);
  }
  return PRETRAINED_MODELS[name as PretrainedName];
}

/** Accuracy figures of one split (as result.json and the metrics' eval lines give them). */
export interface SplitFigures {
  n: number;
  accuracy: number;
  mean_class_accuracy: number;
  per_class: Record<string, number>;
  confusion?: number[][];
  loss?: number;
}

/** A baseline scored on the same test split (from the run folder's baseline.json). */
export interface BaselineFigures {
  what: string;
  n: number;
  accuracy: number;
  mean_class_accuracy: number;
  note?: string;
}

export interface PretrainedCard {
  format: typeof CARD_FORMAT;
  name: PretrainedName;
  title: string;
  variant: 'udc' | 'lowlight';
  classes: string[];
  imageSize: number;
  /** The model's LrdifConfig. */
  config: Record<string, unknown>;
  model: { file: string; bytes: number; sha256: string; parameters: number; stage: 2; epoch: number; step: number; noiseSeed: number };
  /** The frozen networks inference runs, and what of CLIP it needs. */
  encoders: { image: string; landmarks: string; clip: Record<string, unknown> & { neededForInference: boolean } };
  training: {
    data: Record<string, unknown>;
    /** The commands of the recipe (src/pretrained/recipe.ts) that reproduce it from scratch. */
    recipe: { commands: string[]; note: string };
    /** Settings of the training runs as their run.json recorded them. */
    runs: { stage1: Record<string, unknown> | null; stage2: Record<string, unknown> };
    /** Whether the runs used the recipe's settings; else what differed. */
    matchesRecipe: boolean;
    differences: string[];
  };
  /**
   * `test`: null only for a stand-in packaged from a run that has not finished (then `unfinished`
   * says so): the test split is scored once, at the end of a run.
   */
  results: { selected_epoch: number; selected_on: string; val: SplitFigures | null; test: SplitFigures | null; source: string; unfinished?: string };
  baselines: BaselineFigures[];
  limits: string[];
  packaged: { from: string; lrdif: string; verified: { images: number; maxAbsDifference: number; tolerance: number } };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks a card.json; errors name the file and the field. */
export function parseCard(text: string, file: string): PretrainedCard {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new PretrainedError(`${file} is not valid JSON (${(e as Error).message}); re-package the model (scripts/make-pretrained.ts package)`);
  }
  const bad = (what: string) => new PretrainedError(`${file}: ${what}; re-package the model (scripts/make-pretrained.ts package)`);
  if (!isObj(j)) throw bad('not a JSON object');
  if (j.format !== CARD_FORMAT) throw bad(`format is ${JSON.stringify(j.format)}, expected ${JSON.stringify(CARD_FORMAT)}`);
  if (!(PRETRAINED_NAMES as readonly unknown[]).includes(j.name)) throw bad(`name is ${JSON.stringify(j.name)}, expected one of ${PRETRAINED_NAMES.join(', ')}`);
  if (!Array.isArray(j.classes) || !j.classes.every((c) => typeof c === 'string')) throw bad('classes must be a list of class names');
  if (!isObj(j.model) || typeof j.model.sha256 !== 'string' || typeof j.model.file !== 'string') throw bad('model must give file and sha256');
  if (!isObj(j.results)) throw bad('results is missing');
  const unfinished = typeof j.results.unfinished === 'string';
  if (!(isObj(j.results.test) && typeof j.results.test.accuracy === 'number') && !(j.results.test === null && unfinished)) throw bad('results.test.accuracy is missing');
  return j as unknown as PretrainedCard;
}

/** One line per model: name, title, test accuracy and mean per-class accuracy (from the card). */
export function cardSummary(card: PretrainedCard): string {
  const t = card.results.test;
  if (!t) return `${card.name}: ${card.title}; no test figures (${card.results.unfinished})`;
  return `${card.name}: ${card.title}; test accuracy ${(100 * t.accuracy).toFixed(1)} %, mean per-class ${(100 * t.mean_class_accuracy).toFixed(1)} % (${t.n} images)`;
}

/** A Markdown table of the cards' figures (the README's table, written by the packaging script). */
export function cardsTable(cards: readonly PretrainedCard[]): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const rows = ['| model | `--model` | trained on | test images | test accuracy | mean per-class | val accuracy | model file | recipe |', '|---|---|---|---|---|---|---|---|---|'];
  for (const c of cards) {
    const data = String((c.training.data as { name?: string }).name ?? c.variant);
    const val = c.results.val ? pct(c.results.val.accuracy) : '-';
    const t = c.results.test;
    const how = c.results.unfinished
      ? `a stand-in from an unfinished run (${c.results.unfinished})`
      : c.training.matchesRecipe
        ? 'as in the recipe'
        : 'not the recipe (a stand-in: see card.json training.differences)';
    rows.push(
      `| ${c.title} | \`${c.name}\` | ${data} | ${t ? t.n : '-'} | ${t ? pct(t.accuracy) : '-'} | ${t ? pct(t.mean_class_accuracy) : '-'} | ${val} | ${(c.model.bytes / 2 ** 20).toFixed(2)} MiB | ${how} |`,
    );
  }
  for (const c of cards) {
    for (const b of c.baselines) rows.push(`| baseline on ${c.name}'s test split: ${b.what} | | | ${b.n} | ${pct(b.accuracy)} | ${pct(b.mean_class_accuracy)} | | | |`);
  }
  return rows.join('\n');
}
