/**
 * The shipped pretrained models (src/pretrained, assets/models/): the recipe's commands parse to
 * the settings the packaging checks runs against; packaging a run folder gives an inference-only
 * file whose predictions equal the source checkpoint's, a card whose figures are the run's, and
 * leaves the previous folder untouched when it fails; `lrdif predict` without --ckpt uses the
 * shipped UDC model and names it; a missing or damaged asset is a clear error.
 *
 * Small and self-contained: the source "run" is made here from the committed low-light model
 * (with optimiser tensors and run files added), the images are synthetic faces; nothing reads
 * /work/runs or a dataset.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { gpu } from './helpers/gpu.js';
import { runNode } from './helpers/child.js';
import { openSafetensorsFile, writeSafetensorsFile } from '../src/io/safetensors-node.js';
import { encodePng } from '../src/io/image-node.js';
import { syntheticFace } from '../src/data/synthetic-faces.js';
import { addRunOptionFlags, givenOf } from '../src/cli/train-flags.js';
import { trainOptionsFromCli } from '../src/cli/train.js';
import { runPrediction } from '../src/train/predict-node.js';
import { cardsTable, parseCard, pretrainedEntry, PRETRAINED_NAMES, type PretrainedCard } from '../src/pretrained/models.js';
import { recipeDifferences, recipeExpect, recipeSteps } from '../src/pretrained/recipe.js';
import { loadPretrained, maxProbabilityDifference, openPretrained, packagePretrained, pretrainedRoot } from '../src/pretrained/pretrained-node.js';

const BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));
const ASSETS = fileURLToPath(new URL('../assets/models', import.meta.url));
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const quiet = () => {};

async function lrdif(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await runNode([BIN, ...args], { timeout: 300_000, env: { ...process.env, LRDIF_DEBUG: '', ...env } });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pretrained models: names, cards and the recipe (no GPU)', () => {
  it('resolves the shipped names and refuses others by listing them', () => {
    expect(pretrainedEntry('udc')).toMatchObject({ folder: 'lrdif-udc', variant: 'udc' });
    expect(pretrainedEntry('lowlight')).toMatchObject({ folder: 'lldif-lowlight', variant: 'lowlight' });
    expect(() => pretrainedEntry('rafdb')).toThrow("lrdif: no shipped model 'rafdb': the shipped models are 'udc', 'lowlight'");
    expect(pretrainedRoot()).toBe(ASSETS);
  });

  it("the recipe's train commands, parsed by lrdif train's own flags, give the settings packaging expects", () => {
    for (const name of PRETRAINED_NAMES) {
      const steps = recipeSteps(name, { faces: '/faces', work: '/w' });
      expect(steps.map((s) => s.args[0])).toEqual(['synth', 'train', 'train']);
      const expect_ = recipeExpect(name);
      for (const [i, stage] of [
        [1, 'stage1'],
        [2, 'stage2'],
      ] as const) {
        const c = new Command('train').exitOverride().option('--resume').option('--plain');
        addRunOptionFlags(c, 'train', 'train');
        c.parse(steps[i].args.slice(1), { from: 'user' });
        const o = trainOptionsFromCli(c.opts(), givenOf(c)) as unknown as Record<string, unknown>;
        expect(recipeDifferences(expect_[stage], JSON.parse(JSON.stringify(o)), stage), `${name} ${stage}`).toEqual([]);
      }
    }
    // and a run with other settings is told apart
    expect(
      recipeDifferences(
        recipeExpect('udc').stage1,
        { ...recipeExpect('udc').stage1, epochs: 4, set: { imageSize: 32, window: 2, inputNorm: 'exposure', imageEncoder: 'faceapi-expression' } },
        'stage1',
      ),
    ).toEqual(['stage1.set.classBalance: null, recipe "sqrtInverse"', 'stage1.epochs: 4, recipe 5']);
  });

  it('says what is wrong with a damaged card or model file, and how to fix it', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-pre-bad-'));
    try {
      expect(() => openPretrained('udc', root)).toThrow(
        `lrdif: the shipped model 'udc' is missing: ${path.join(root, 'lrdif-udc', 'model.safetensors')} does not exist; package it with`,
      );
      const dir = path.join(root, 'lldif-lowlight');
      fs.cpSync(path.join(ASSETS, 'lldif-lowlight'), dir, { recursive: true });
      expect(openPretrained('lowlight', root).meta.stage).toBe(2);
      // one flipped byte in the weights
      const model = path.join(dir, 'model.safetensors');
      const good = fs.readFileSync(model);
      const bad = Buffer.from(good);
      bad[bad.length - 5] ^= 0xff;
      fs.writeFileSync(model, bad);
      expect(() => openPretrained('lowlight', root)).toThrow(
        new RegExp(`^lrdif: ${model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is damaged or not the packaged file: its sha256 is [0-9a-f]{12}…, the card says [0-9a-f]{12}…`),
      );
      fs.writeFileSync(model, good);
      // a truncated card
      const card = path.join(dir, 'card.json');
      fs.writeFileSync(card, fs.readFileSync(card, 'utf8').slice(0, 100));
      expect(() => openPretrained('lowlight', root)).toThrow(`lrdif: ${card} is not valid JSON`);
      expect(() => parseCard('{"format":"other"}', 'x/card.json')).toThrow('lrdif: x/card.json: format is "other", expected "lrdif-pretrained-card/1"');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('pretrained models: packaging and prediction', () => {
  let root: string;
  let images: string[];

  beforeAll(async () => {
    await gpu();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-pre-'));
    images = [0, 3].map((i) => {
      const f = path.join(root, `face-${i}.png`);
      fs.writeFileSync(f, encodePng(syntheticFace(7, i).image));
      return f;
    });
  });

  afterAll(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** A stage-2 run folder as the trainer leaves it, made from the shipped low-light model: optimiser state, a machine path in the CLIP record, run files. */
  function makeRun(dir: string): { result: Record<string, unknown>; plannedEpochs: number; epoch: number } {
    fs.mkdirSync(path.join(dir, 's1'), { recursive: true });
    fs.mkdirSync(path.join(dir, 's2'));
    const r = openSafetensorsFile(path.join(ASSETS, 'lldif-lowlight', 'model.safetensors'));
    const entries = [];
    const steps: Record<string, number> = {};
    for (const name of r.names()) {
      const info = r.info(name);
      const data = r.getHostArray(name, 'f32').slice();
      entries.push({ name, dtype: 'F32' as const, shape: [...info.shape], data });
      const key = name.slice('model.'.length);
      steps[key] = 9;
      entries.push({ name: `optimizer.${key}.exp_avg`, dtype: 'F32' as const, shape: [...info.shape], data: data.map((v) => v * 0.5) });
    }
    const meta = { ...r.metadata };
    r.close();
    meta.optimizer = JSON.stringify({ lr: 0.001, steps });
    meta.clip = JSON.stringify({ ...JSON.parse(meta.clip), path: path.join(dir, 's2', 'clip') });
    meta.train = JSON.stringify({ ...JSON.parse(meta.train), from: path.join(dir, 's1', 'best.safetensors') });
    writeSafetensorsFile(path.join(dir, 's2', 'best.safetensors'), entries, meta);
    const epoch = Number(meta.epoch);
    const expect_ = recipeExpect('lowlight');
    fs.writeFileSync(path.join(dir, 's1', 'run.json'), JSON.stringify({ ...expect_.stage1, data: '/nowhere/faces-lowlight' }));
    fs.writeFileSync(path.join(dir, 's2', 'run.json'), JSON.stringify({ ...expect_.stage2, data: '/nowhere/faces-lowlight', selectOn: 'val' }));
    const perClass = { neutral: 0.75, happiness: 0.5, surprise: 0.25, sadness: 0, anger: 0, disgust: 0, fear: 0, contempt: 0 };
    const result = {
      stage: 2,
      selected_epoch: epoch,
      selected_on: 'val',
      split: 'test',
      epochs: recipeExpect('lowlight').stage2.epochs,
      n: 40,
      accuracy: 0.375,
      mean_class_accuracy: 0.1875,
      loss: 1.5,
      per_class: perClass,
      confusion: [[1]],
      class_names: [],
    };
    fs.writeFileSync(path.join(dir, 's2', 'result.json'), JSON.stringify(result));
    const evalLine = { type: 'eval', stage: 2, epoch, step: 5, split: 'val', n: 30, accuracy: 0.4, mean_class_accuracy: 0.2, loss: 1.4, per_class: perClass };
    fs.writeFileSync(path.join(dir, 's2', 'metrics.jsonl'), `${JSON.stringify({ ...evalLine, epoch: epoch + 1, accuracy: 0.1 })}\n${JSON.stringify(evalLine)}\n`);
    return { result, plannedEpochs: (JSON.parse(meta.train) as { settings: { epochs: number } }).settings.epochs, epoch };
  }

  it('packages a run: no optimiser state, the same predictions, the run’s figures in the card; a failed packaging leaves the folder as it was', async () => {
    const run = path.join(root, 'run');
    const { result, plannedEpochs, epoch } = makeRun(run);
    const models = path.join(root, 'models');
    const logs: string[] = [];
    const out = await packagePretrained({ name: 'lowlight', run: path.join(run, 's2'), root: models, images, version: 'test', log: (m) => logs.push(m) });
    const file = path.join(models, 'lldif-lowlight', 'model.safetensors');
    expect(out.dir).toBe(path.join(models, 'lldif-lowlight'));
    expect(fs.readdirSync(out.dir).sort()).toEqual(['card.json', 'model.safetensors']);
    expect(fs.readdirSync(models)).toEqual(['lldif-lowlight']); // no temp folder left
    const r = openSafetensorsFile(file);
    expect(r.names().some((n) => n.startsWith('optimizer.'))).toBe(false);
    expect(r.metadata.optimizer).toBeUndefined();
    expect(JSON.parse(r.metadata.clip).path).toBeUndefined();
    r.close();
    expect(fs.statSync(file).size).toBeLessThan(fs.statSync(path.join(run, 's2', 'best.safetensors')).size / 1.9);
    // predictions: the packaged file gives the source checkpoint's probabilities
    const p = (ckpt: string) => runPrediction({ ckpt, images, clip: null, detect: 'never', seed: null, cacheDir: null, scoreThreshold: 0.5 }, quiet);
    const want = await p(path.join(run, 's2', 'best.safetensors'));
    const got = await p(file);
    expect(got.images.map((i) => i.faces.length)).toEqual([1, 1]);
    expect(maxProbabilityDifference(want, got)).toBeLessThanOrEqual(1e-6);
    // the card: read from the run's files, and the one openPretrained checks
    const card = JSON.parse(fs.readFileSync(path.join(out.dir, 'card.json'), 'utf8')) as PretrainedCard;
    expect(card.model.sha256).toBe(sha(file));
    expect(card.results.test).toEqual({ n: 40, accuracy: 0.375, mean_class_accuracy: 0.1875, per_class: result.per_class, confusion: [[1]], loss: 1.5 });
    expect(card.results.val).toMatchObject({ n: 30, accuracy: 0.4 });
    // the recipe refits (--select-on last); this run chose its epoch on val, and the card says so
    expect(card.training.differences).toEqual(['stage2.selectOn: "val", recipe "last"']);
    expect(card.training.matchesRecipe).toBe(false);
    expect(card.packaged.verified).toEqual({ images: 2, maxAbsDifference: 0, tolerance: 1e-6 });
    expect(card.encoders.clip.neededForInference).toBe(false);
    expect(openPretrained('lowlight', models).info.results.test?.accuracy).toBe(0.375);
    expect(cardsTable([card])).toContain('| LLDif, low-light faces | `lowlight` | faces-lowlight | 40 | 37.5 % | 18.8 % | 40.0 % |');
    // loaded as a model: the same weights
    const loaded = await loadPretrained('lowlight', models);
    try {
      const w = loaded.model.stateDict().get('udcformer.classifier.weight')!;
      const src = openSafetensorsFile(path.join(run, 's2', 'best.safetensors'));
      expect(Array.from((await w.data()) as Float32Array)).toEqual(Array.from(src.getHostArray('model.udcformer.classifier.weight', 'f32')));
      src.close();
      expect(loaded.card.name).toBe('lowlight');
    } finally {
      loaded.model.dispose();
    }
    // a run without result.json, or one of the other variant: refused, the packaged folder untouched
    fs.renameSync(path.join(run, 's2', 'result.json'), path.join(run, 's2', 'result.moved'));
    await expect(packagePretrained({ name: 'lowlight', run: path.join(run, 's2'), root: models, images, version: 'test', log: quiet })).rejects.toThrow(
      'result.json does not exist (the run has not finished',
    );
    // unless asked for a stand-in from the unfinished run: no test figures, and the card says why
    const standIn = await packagePretrained({
      name: 'lowlight',
      run: path.join(run, 's2'),
      root: path.join(root, 'stand-in'),
      images,
      version: 'test',
      log: quiet,
      unfinished: true,
    });
    expect(standIn.card.results.test).toBeNull();
    expect(standIn.card.results.unfinished).toBe(`the best epoch so far, ${epoch} of ${plannedEpochs}, of a run still training: no test figures yet`); // the checkpoint's own settings
    expect(standIn.card.limits[0]).toMatch(/^A stand-in: /);
    expect(openPretrained('lowlight', path.join(root, 'stand-in')).info.results.test).toBeNull();
    expect(cardsTable([standIn.card])).toMatch(/\| `lowlight` \| faces-lowlight \| - \| - \| - \| 40\.0 % \| .* \| a stand-in from an unfinished run \(the best epoch so far/);
    fs.renameSync(path.join(run, 's2', 'result.moved'), path.join(run, 's2', 'result.json'));
    await expect(packagePretrained({ name: 'udc', run: path.join(run, 's2'), root: models, images, version: 'test', log: quiet })).rejects.toThrow(
      "is a lowlight model; 'udc' ships a udc one",
    );
    expect(sha(file)).toBe(card.model.sha256);
    expect(fs.readdirSync(models)).toEqual(['lldif-lowlight']);

    // the recipe's refit: no validation figures (nothing was evaluated before the test), the run matches the recipe
    fs.writeFileSync(path.join(run, 's2', 'run.json'), JSON.stringify({ ...recipeExpect('lowlight').stage2, data: '/nowhere/faces-lowlight' }));
    fs.writeFileSync(path.join(run, 's2', 'result.json'), JSON.stringify({ ...result, selected_on: 'last', selection_accuracy: null }));
    fs.writeFileSync(path.join(run, 's2', 'metrics.jsonl'), `${JSON.stringify({ type: 'epoch', stage: 2, epoch, step: 5, best_epoch: epoch })}\n`);
    const refit = await packagePretrained({ name: 'lowlight', run: path.join(run, 's2'), root: path.join(root, 'refit'), images, version: 'test', log: quiet });
    expect(refit.card.training.matchesRecipe).toBe(true);
    expect(refit.card.results).toMatchObject({ selected_epoch: epoch, selected_on: 'last', val: null });
    expect(cardsTable([refit.card])).toContain('| LLDif, low-light faces | `lowlight` | faces-lowlight | 40 | 37.5 % | 18.8 % | - |');
  }, 600_000);

  it('lrdif predict without --ckpt uses the shipped UDC model and says so; --model picks another; missing assets are a clear error', async () => {
    const txt = await lrdif(['predict', ...images, '--detect', 'never', '--no-cache']);
    expect(txt.status, txt.stderr).toBe(0);
    const lines = txt.stdout.trim().split('\n');
    expect(lines[0]).toBe(`model: the shipped 'udc' model (LRDif, under-display camera faces; ${path.join(ASSETS, 'lrdif-udc', 'model.safetensors')})`);
    expect(lines.slice(1).map((l) => l.split(':')[0])).toEqual(images);
    const js = await lrdif(['predict', '--model', 'lowlight', images[0], '--detect', 'never', '--no-cache', '--json']);
    expect(js.status, js.stderr).toBe(0);
    const r = JSON.parse(js.stdout) as {
      model: { name: string };
      checkpoint: { path: string; variant: string };
      images: Array<{ faces: Array<{ probabilities: Record<string, number> }> }>;
    };
    expect(r.model.name).toBe('lowlight');
    expect(r.checkpoint.variant).toBe('lowlight');
    // the same numbers as the file given with --ckpt, in this process
    const direct = await runPrediction(
      { ckpt: path.join(ASSETS, 'lldif-lowlight', 'model.safetensors'), images: [images[0]], clip: null, detect: 'never', seed: null, cacheDir: null, scoreThreshold: 0.5 },
      quiet,
    );
    for (const [c, v] of Object.entries(direct.images[0].faces[0].probabilities)) expect(r.images[0].faces[0].probabilities[c]).toBeCloseTo(v, 6);
    const empty = fs.mkdtempSync(path.join(root, 'empty-'));
    const missing = await lrdif(['predict', images[0], '--detect', 'never', '--no-cache'], { LRDIF_PRETRAINED_DIR: empty });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`lrdif: error: the shipped model 'udc' is missing: ${path.join(empty, 'lrdif-udc', 'model.safetensors')} does not exist; package it with`);
  }, 600_000);
});
