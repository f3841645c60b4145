/**
 * The training options declared once (src/train/options.ts): every run option is a flag of
 * `lrdif train` and goes to run.json and back; --resume refuses what would change the run;
 * run.json of the earlier layout still resumes. Also the run-folder lock, the checks made
 * before a run folder is touched, and the collapse watch (src/train/collapse.ts).
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { Command } from 'commander';
import {
  OPTION_NAMES,
  TRAIN_OPTIONS,
  flagOf,
  refitOptions,
  REFIT_MAY_SET,
  resumeOptions,
  runOptions,
  settingsOf,
  SETTING_NAMES,
  upgradeRunOptions,
  validateRunOptions,
  type TrainRunOptions,
} from '../src/train/options.js';
import { addRunOptionFlags, givenOf, runOptionsFromValues } from '../src/cli/train-flags.js';
import { acquireRunLock, checkOutFolder } from '../src/train/run-lock-node.js';
import { readSelection, stage2Config } from '../src/train/run-node.js';
import { makeLrdifConfig } from '../src/models/lrdif/config.js';
import { predictionCollapse, priorEntropy, PriorLossWatch } from '../src/train/collapse.js';
import { classificationReport } from '../src/train/metrics.js';

function parse(args: string[], scope: 'train' | 'shared' = 'train'): { values: Record<string, unknown>; given: (n: keyof TrainRunOptions) => boolean } {
  const c = new Command('train').exitOverride().option('--resume').option('--plain');
  addRunOptionFlags(c, 'train', scope);
  c.parse(args, { from: 'user' });
  return { values: c.opts(), given: givenOf(c) };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-opts-'));

describe('training options, declared once', () => {
  it('makes a flag of every run option, parses it, and round-trips it through run.json', () => {
    const c = new Command('train');
    addRunOptionFlags(c, 'train', 'train');
    const flags = new Set(c.options.map((o) => o.long));
    for (const k of OPTION_NAMES) expect(flags.has(flagOf(k)), flagOf(k)).toBe(true);
    const { values, given } = parse([
      '--stage',
      '2',
      '--data',
      'd',
      '--format',
      'kdef',
      '--from',
      'a.safetensors',
      '--timesteps',
      '8',
      '--no-diffusion',
      '--loss',
      'ce',
      '--no-insert-noise',
      '--parameterisation',
      'x0',
      '--class-balance',
      'inverse',
      '--stage2-train',
      'prior',
      '--image-head',
      'linear',
      '--lr',
      '0.001',
      '--warmup',
      '5',
      '--schedule',
      'constant',
      '--grad-clip',
      '1.5',
      '--no-augment',
      '--select-on',
      'test',
      '--val-fraction',
      '0.2',
      '--no-cache',
      '--out',
      'r',
    ]);
    const o = runOptionsFromValues(values, given);
    expect(o).toMatchObject({
      stage: 2,
      format: 'kdef',
      from: 'a.safetensors',
      timesteps: 8,
      diffusion: false,
      loss: 'ce',
      insertNoise: false,
      parameterisation: 'x0',
      classBalance: 'inverse',
      stage2Train: 'prior',
      imageHead: 'linear',
    });
    expect(o).toMatchObject({ lr: 0.001, warmup: 5, schedule: 'constant', gradClip: 1.5, augment: false, selectOn: 'test', valFraction: 0.2, cache: null, klWeight: null });
    expect(Object.keys(o).sort()).toEqual([...OPTION_NAMES].sort());
    expect(upgradeRunOptions(JSON.parse(JSON.stringify(o)))).toEqual(o);
    // the trainer's settings are the same fields, same names
    const s = settingsOf(o);
    expect(Object.keys(s).sort()).toEqual([...SETTING_NAMES].sort());
    for (const k of SETTING_NAMES) expect(s[k]).toBe(o[k]);
  });

  it('leaves stage-2 switches unset unless given, and refuses options of the other stage', () => {
    const p1 = parse(['--stage', '1', '--data', 'd', '--out', 'r']);
    const o1 = runOptionsFromValues(p1.values, p1.given);
    expect([o1.diffusion, o1.insertNoise, o1.timesteps, o1.loss, o1.parameterisation, o1.classBalance]).toEqual([null, null, null, null, null, null]);
    expect(o1.augment).toBe(true);
    const bad = parse(['--stage', '1', '--data', 'd', '--out', 'r', '--timesteps', '4', '--no-insert-noise', '--class-balance', 'inverse']);
    expect(() => validateRunOptions(runOptionsFromValues(bad.values, bad.given), bad.given)).toThrow(
      'lrdif: train: --timesteps, --no-insert-noise, --class-balance are for stage 2',
    );
    expect(() => parse(['--stage', '2', '--class-balance', 'balanced'])).toThrow(/--class-balance/);
    const bad2 = parse(['--stage', '2', '--data', 'd', '--out', 'r', '--from', 'x', '--set', 'dim=4']);
    expect(() => validateRunOptions(runOptionsFromValues(bad2.values, bad2.given), bad2.given)).toThrow(
      /--set is for stage 1 \(stage 2 takes its architecture from the stage-1 checkpoint/,
    );
    const bad3 = parse(['--stage', '2', '--data', 'd', '--out', 'r', '--from', 'x', '--loss', 'ce', '--kl-weight', '2']);
    expect(() => validateRunOptions(runOptionsFromValues(bad3.values, bad3.given), bad3.given)).toThrow('--loss ce and --kl-weight > 0 contradict each other');
    expect(() => parse(['--stage', '2', '--timesteps', '33'])).toThrow("lrdif: train: --timesteps must be an integer from 1 to 32, got '33'");
  });

  it("stage 2 takes the stage-1 checkpoint's config with the given switches over it (class balance included)", () => {
    const s1 = makeLrdifConfig('tiny', { numClasses: 3, classBalance: 'sqrtInverse', timesteps: 8 });
    const keep = stage2Config(runOptions({ data: 'd', format: 'folder', out: 'r', stage: 2, from: 'x' }), s1);
    expect([keep.classBalance, keep.timesteps, keep.stage2Train, keep.imageHead]).toEqual(['sqrtInverse', 8, 'all', 'none']);
    const set = stage2Config(
      runOptions({ data: 'd', format: 'folder', out: 'r', stage: 2, from: 'x', classBalance: 'inverse', timesteps: 4, stage2Train: 'prior', imageHead: 'linear' }),
      s1,
    );
    expect([set.classBalance, set.timesteps, set.stage2Train, set.imageHead, set.dim, set.numClasses]).toEqual(['inverse', 4, 'prior', 'linear', s1.dim, 3]);
  });

  it('on --resume, refuses every option that would change the run, naming it, and takes the ones that may change', () => {
    const saved = runOptions({ data: 'd', format: 'folder', out: 'r', epochs: 10, lr: 1e-3 });
    const fixed = OPTION_NAMES.filter((k) => TRAIN_OPTIONS[k].resume === 'fixed' && k !== 'out');
    // each fixed option, given with another value, is refused by name
    const samples: Record<string, string[]> = {
      stage: ['--stage', '2'],
      data: ['--data', 'e'],
      format: ['--format', 'kdef'],
      testFraction: ['--test-fraction', '0.3'],
      valFraction: ['--val-fraction', '0.3'],
      splitSeed: ['--split-seed', '1'],
      selectOn: ['--select-on', 'test'],
      clip: ['--clip', 'c'],
      clipSeed: ['--clip-seed', '1'],
      config: ['--config', 'tiny'],
      set: ['--set', 'dim=4'],
      variant: ['--variant', 'lowlight'],
      degradeOnTheFly: ['--degrade-on-the-fly'],
      degradeSeed: ['--degrade-seed', '3'],
      augment: ['--no-augment'],
      batch: ['--batch', '8'],
      lr: ['--lr', '0.01'],
      weightDecay: ['--weight-decay', '0'],
      schedule: ['--schedule', 'constant'],
      warmup: ['--warmup', '10'],
      gradClip: ['--grad-clip', '1'],
      seed: ['--seed', '5'],
      deterministic: ['--deterministic'],
      from: ['--from', 'x'],
      timesteps: ['--timesteps', '8'],
      diffusion: ['--no-diffusion'],
      loss: ['--loss', 'ce'],
      klWeight: ['--kl-weight', '0.5'],
      insertNoise: ['--no-insert-noise'],
      parameterisation: ['--parameterisation', 'eps'],
      classBalance: ['--class-balance', 'sqrtInverse'],
      stage2Train: ['--stage2-train', 'prior'],
      imageHead: ['--image-head', 'linear'],
      classes: ['--classes', 'neutral,happiness'],
    };
    const file = path.join(tmp(), 'deg.json');
    fs.writeFileSync(file, '{"exposure":[0.1,0.2]}');
    samples.degradeConfig = ['--degrade-config', file];
    for (const k of fixed) {
      expect(samples[k], `a sample value for ${k}`).toBeDefined();
      const p = parse(['--resume', '--out', 'r', ...samples[k]]);
      expect(() => resumeOptions(saved, runOptionsFromValues(p.values, p.given), p.given), k).toThrow(`${flagOf(k)} (the run has`);
    }
    // the same value again is no change; the resumable ones are taken
    const same = parse(['--resume', '--out', 'r', '--lr', '0.001', '--epochs', '20', '--eval-batch', '8', '--no-cache']);
    const o = resumeOptions(saved, runOptionsFromValues(same.values, same.given), same.given);
    expect([o.lr, o.epochs, o.evalBatch, o.cache]).toEqual([1e-3, 20, 8, null]);
    const p = parse(['--resume', '--out', 'r', '--warmup', '5', '--no-augment']);
    expect(() => resumeOptions(saved, runOptionsFromValues(p.values, p.given), p.given)).toThrow(
      /--no-augment \(the run has true\), --warmup \(the run has 0\) would change the run\. On --resume only --epochs, --eval-batch, --cache may change/,
    );
  });

  it("--refit takes the selection run's options, every training image and its chosen epoch; refuses anything else given, and runs not chosen on val", () => {
    const saved = runOptions({ stage: 2, data: 'd', format: 'folder', out: 'sel', epochs: 8, lr: 1e-3, from: 's1/best.safetensors', imageHead: 'linear' });
    const refit = (args: string[], selected = { epoch: 6, on: 'val' }, run = saved) => {
      const p = parse(['--out', 'refit', ...args]);
      return refitOptions('sel', run, selected, runOptionsFromValues(p.values, p.given), p.given);
    };
    // nothing else given: the run's own options, with selectOn last and the chosen epoch count
    expect(refit([])).toEqual({ ...saved, selectOn: 'last', epochs: 6, out: 'refit' });
    // the refitted stage 1, another seed, cache and eval batch may be given
    expect(refit(['--from', 'refit1/best.safetensors', '--seed', '2', '--no-cache', '--eval-batch', '16'])).toEqual({
      ...saved,
      selectOn: 'last',
      epochs: 6,
      out: 'refit',
      from: 'refit1/best.safetensors',
      seed: 2,
      cache: null,
      evalBatch: 16,
    });
    expect([...REFIT_MAY_SET].sort()).toEqual(['cache', 'evalBatch', 'from', 'out', 'seed']);
    // anything else would not be a refit of that run
    expect(() => refit(['--lr', '0.01', '--epochs', '3'])).toThrow(
      "lrdif: train --refit takes the selection run's options (sel/run.json); --epochs, --lr cannot be given (only --out, --from, --seed, --cache, --eval-batch may)",
    );
    // a run that chose on test, or is itself a refit, has no validation choice to refit
    expect(() => refit([], { epoch: 6, on: 'test' }, { ...saved, selectOn: 'test' })).toThrow('did not choose its epoch on a validation split (selected on test)');
    expect(() => refit([], { epoch: 6, on: 'last' }, { ...saved, selectOn: 'last' })).toThrow('(selected on last); refit a run trained with --select-on val');
    expect(() => refit([], { epoch: undefined as unknown as number, on: 'val' })).toThrow('sel records no selected epoch (undefined)');
    // the choice is read from the finished run's result.json
    const dir = tmp();
    expect(() => readSelection(dir)).toThrow(`lrdif: train --refit: ${path.join(dir, 'result.json')} does not exist (the run has not finished`);
    fs.writeFileSync(path.join(dir, 'result.json'), '{"selected_epoch": 6, "selected_on": "val", "selection_accuracy": 0.6}');
    expect(readSelection(dir)).toEqual({ epoch: 6, on: 'val', accuracy: 0.6 });
    fs.writeFileSync(path.join(dir, 'result.json'), '{"selected_epoch": 6,');
    expect(() => readSelection(dir)).toThrow(`lrdif: train --refit: ${path.join(dir, 'result.json')} is not valid JSON`);
  });

  it('reads run.json of the earlier layout (overrides, stage2, evalSplit, cacheDir)', () => {
    const old = {
      stage: 2,
      data: 'd',
      format: 'folder',
      testFraction: 0.25,
      splitSeed: 0,
      evalSplit: 'test',
      clip: null,
      clipSeed: 0,
      config: 'tiny',
      overrides: { imageSize: 32 },
      variant: 'udc',
      degradeOnTheFly: false,
      degradeConfig: {},
      degradeSeed: 0,
      augment: false,
      epochs: 8,
      batch: 32,
      evalBatch: 64,
      lr: 1e-3,
      weightDecay: 1e-4,
      schedule: 'constant',
      warmup: 0,
      gradClip: 0,
      seed: 0,
      deterministic: true,
      from: 's1/best.safetensors',
      stage2: { parameterisation: 'x0', timesteps: 4, lambdaKl: 0.5 },
      out: 'r',
      cacheDir: '/c',
    };
    const o = upgradeRunOptions(old);
    expect(o).toMatchObject({
      set: { imageSize: 32 },
      selectOn: 'test',
      valFraction: 0,
      cache: '/c',
      parameterisation: 'x0',
      timesteps: 4,
      klWeight: 0.5,
      diffusion: null,
      loss: null,
    });
    expect(Object.keys(o).sort()).toEqual([...OPTION_NAMES].sort());
  });
});

describe('run folder checks and lock', () => {
  it('names a regular file on the --out path instead of a bare ENOTDIR', () => {
    const d = tmp();
    fs.writeFileSync(path.join(d, 'file'), 'x');
    expect(() => checkOutFolder(path.join(d, 'file', 'run'))).toThrow(
      `lrdif: train: --out ${path.join(d, 'file', 'run')} cannot be made: ${path.join(d, 'file')} is a file, not a folder`,
    );
    expect(() => checkOutFolder(path.join(d, 'file'))).toThrow('is a file, not a folder; give a folder for the run');
    expect(() => checkOutFolder(path.join(d, 'new', 'run'))).not.toThrow();
  });

  it('refuses a folder another live process holds, naming it, and takes over a stale lock with a note', async () => {
    const d = tmp();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(d, '.lock'), JSON.stringify({ pid: child.pid, host: os.hostname(), started: '2026-12-04T10:00:00.000Z', command: 'lrdif train --out x' }));
      expect(() => acquireRunLock(d, () => {})).toThrow(
        `lrdif: train: ${d} is in use by another lrdif process (pid ${child.pid}, started 2026-12-04T10:00:00.000Z: lrdif train --out x); wait for it to finish, or give another --out`,
      );
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // the process is gone: its lock is stale
    const notes: string[] = [];
    const lock = acquireRunLock(d, (m) => notes.push(m));
    expect(notes.join('\n')).toMatch(new RegExp(`taking over the stale lock of .* \\(pid ${child.pid}, started 2026-12-04T10:00:00.000Z, is no longer running\\)`));
    expect(JSON.parse(fs.readFileSync(path.join(d, '.lock'), 'utf8')).pid).toBe(process.pid);
    lock.release();
    expect(fs.existsSync(path.join(d, '.lock'))).toBe(false);
  });
});

describe('collapse watch', () => {
  const names = ['neutral', 'happiness', 'surprise'];
  it('flags predictions that fall on one class, not a model that separates classes', () => {
    const labels = [...Array(30).fill(0), ...Array(40).fill(1), ...Array(30).fill(2)];
    const c = predictionCollapse(
      classificationReport(
        labels.map(() => 1),
        labels,
        names,
      ),
      'val',
    );
    expect(c).toMatchObject({ kind: 'one-class', className: 'happiness', share: 1, split: 'val' });
    expect(c!.message).toContain("the model predicts 'happiness' for 100.0 % of the 100 val images (that class is 40.0 % of them)");
    // 96 of 100 on one class still counts; a model right on each class does not
    const mostly = labels.map((_, i) => (i < 4 ? 0 : 1));
    expect(predictionCollapse(classificationReport(mostly, labels, names), 'test')?.share).toBeCloseTo(0.96, 12);
    expect(predictionCollapse(classificationReport(labels, labels, names), 'val')).toBeNull();
    // one true class only, or too few images: nothing to say
    expect(predictionCollapse(classificationReport(Array(50).fill(0), Array(50).fill(0), names), 'val')).toBeNull();
    expect(predictionCollapse(classificationReport([1, 1, 1], [0, 1, 2], names), 'val')).toBeNull();
  });

  it("flags a training loss that sits at the class prior's entropy for three epochs", () => {
    const counts = [300, 500, 200];
    const h = -(0.3 * Math.log(0.3) + 0.5 * Math.log(0.5) + 0.2 * Math.log(0.2));
    expect(priorEntropy(counts)).toBeCloseTo(h, 12);
    const w = new PriorLossWatch(counts);
    expect(w.observe(2.0)).toBeNull();
    expect(w.observe(h * 1.01)).toBeNull();
    expect(w.observe(h * 0.99)).toBeNull();
    const c = w.observe(h);
    expect(c).toMatchObject({ kind: 'prior-loss', epochs: 3, split: 'train' });
    expect(c!.message).toContain(`the entropy of the class frequencies (${h.toFixed(3)})`);
    // a loss that leaves the plateau resets the count
    expect(w.observe(0.5)).toBeNull();
    expect(w.epochsAtPrior).toBe(0);
  });
});
