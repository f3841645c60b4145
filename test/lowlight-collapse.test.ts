/**
 * Regression test of issue 17: LLDif stage 2 on dark faces must not collapse to one class.
 *
 * A small seeded dark dataset made by the project itself: 420 procedural faces (seven
 * expressions, 60 each; the demo's faces), their low-light version (`lrdif synth --degradation
 * lowlight`, seed 0: 5–20 % exposure, gamma, colour cast, shot and read noise), 105 held out for
 * testing and 15 % of the rest for validation. Stage 1 and stage 2 train with the recommended
 * recipe (src/train/recipe.ts: per-image exposure normalisation, face-api's expression net as E_I)
 * at a CPU size. Stage 2, from the image alone, must beat the majority class (1/7 of the test
 * faces) by a clear margin, predict several classes, and the trainer must not report a collapse.
 *
 * Measured (`scripts/quick-stages.ts <dir> variant=lowlight e1=12 e2=10`, the same runs as here):
 * stage 1 56.2 % test (the label path wakes up at epoch 9), stage 2 43.8 % test (its epoch 9
 * chosen on val; validation 27–39 % over epochs 2–10), predictions 13 14 14 20 16 14 14 over the
 * seven classes. The whole test: 231 s of CPU time (`/usr/bin/time -v npx vitest run
 * test/lowlight-collapse.test.ts`, data and embeddings included; 17 min wall on 2 cores busy with
 * other training). The threshold, the majority class + 15 points (29.3 %), sits 14.5 points
 * (3 standard errors of a 105-face accuracy) below the measured 43.8 %, and 15 points (4.5 of them)
 * above the majority class.
 *
 * The control, measured once and not run here (it would double the test's time): the same runs
 * with the paper's input (`inputNorm=none`, face-api's E_I kept) give stage 2 25.7 % with 103 of
 * the 105 faces in two classes (predictions 0 0 50 0 53 2 0), and the trainer reports a collapse
 * (the training loss at the class prior's entropy for 9 epochs): the accuracy and collapse
 * assertions below fail on it. With the tiny random CLIP as E_I as well (the paper's setup) the
 * demo on 420 such faces predicts one class for every face (14.3 %; /work/notes/research-log.md,
 * "Finding 3").
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpu } from './helpers/gpu.js';
import { writeSyntheticDataset } from '../src/data/synthetic-faces-node.js';
import { runSynth } from '../src/data/degrade/synth.js';
import { nodeSynthLayout } from '../src/data/degrade/synth-node.js';
import { openEncoders, Session } from '../src/train/session-node.js';
import { runTraining } from '../src/train/run-node.js';
import { runOptions } from '../src/train/options.js';
import { RECIPE_CONFIG, RECIPE_STAGE2, RECIPE_TRAINING } from '../src/train/recipe.js';

describe('LLDif stage 2 on dark synthetic faces (issue 17)', () => {
  let root: string;
  let session: Session;
  const log = () => {};

  beforeAll(async () => {
    await gpu();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-dark-'));
    await writeSyntheticDataset({ out: path.join(root, 'clean'), n: 420, seed: 0, size: 112, testFraction: 0.25 });
    await runSynth(nodeSynthLayout('folder', path.join(root, 'clean')), path.join(root, 'dark'), { kind: 'lowlight', seed: 0, batch: 32, version: 'test', warn: () => {} });
    const enc = await openEncoders({ path: null, seed: 0 }, path.join(root, 'cache'), log);
    session = await Session.open({ dir: path.join(root, 'dark'), format: 'folder', splitSeed: 0, testFraction: 0.25, valFraction: 0.15 }, enc, log, log);
  }, 600_000);

  afterAll(() => {
    session?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('the recipe trains stage 2 well above the majority class, predicting several classes', async () => {
    const common = {
      data: path.join(root, 'dark'),
      format: 'folder' as const,
      testFraction: 0.25,
      valFraction: 0.15,
      variant: 'lowlight' as const,
      ...RECIPE_TRAINING,
      deterministic: true,
      cache: path.join(root, 'cache'),
    };
    const s1 = await runTraining(runOptions({ ...common, stage: 1, config: 'tiny', set: { ...RECIPE_CONFIG }, epochs: 12, out: path.join(root, 'stage1') }), {
      session,
      log,
      version: 'test',
    });
    const s2 = await runTraining(
      runOptions({ ...common, stage: 2, from: path.join(root, 'stage1', 'best.safetensors'), ...RECIPE_STAGE2, epochs: 10, out: path.join(root, 'stage2') }),
      { session, log, version: 'test' },
    );
    expect(s1.config).toMatchObject({ inputNorm: 'exposure', imageEncoder: 'faceapi-expression' });
    const test = s2.result.test!;
    const labels = session.split('test').dataset.classCounts();
    const majority = Math.max(...labels) / labels.reduce((a, b) => a + b, 0);
    const confusion = test.eval.report.confusion;
    const predicted = confusion[0].map((_, j) => confusion.reduce((a, row) => a + row[j], 0));
    const summary = `stage-2 test accuracy ${(100 * test.accuracy).toFixed(1)} % (majority ${(100 * majority).toFixed(1)} %), predictions per class ${predicted.join(' ')}`;
    expect(test.accuracy, summary).toBeGreaterThanOrEqual(majority + 0.15);
    expect(predicted.filter((n) => n > 0).length, summary).toBeGreaterThanOrEqual(3);
    expect(Math.max(...predicted) / test.n, summary).toBeLessThan(0.6);
    expect(s2.result.collapse, summary).toBeNull();
  }, 1_200_000);
});
