/**
 * LRDif end to end on the synthetic under-display-camera faces, sized for a 2-core CPU:
 * stage 1 learns (the label is its input), stage 2 well above chance from the image alone; a run
 * killed mid-epoch and resumed writes the uninterrupted run's metrics byte for byte; a NaN loss stops the run naming the step and leaves the last checkpoint
 * untouched; GPU memory is flat across epochs and the stage-2 step's memory does not depend on
 * the batches before it; `lrdif eval`, predict and the sweep write their results; a corrupt image
 * is skipped with a warning and a malformed label file is an error naming its line.
 *
 * The test trains with the recommended recipe (src/train/recipe.ts: per-image exposure
 * normalisation, face-api's pretrained expression net as E_I, a 32×32 input with window 2, batches
 * of 32 at a constant 1e-3 without augmentation, stage 2 with DiffIR's x0 parameterisation at
 * T = 4) and the tiny random CLIP for the class prompts. Measured with it (`npx vitest run
 * test/train-e2e.test.ts`, 2 cores, lavapipe; training is deterministic here): stage 1 57.1 % test
 * (its best validation epoch is the 20th: the label path through the tiny CLIP's nearly parallel
 * prompt embeddings is slow to learn), stage 2 32.4 % (chance 14.3 %; on the same split the
 * engine CNN baseline scores 14.3 %, face-api zero-shot 24.8 %). The thresholds (45 %, 24 %) sit
 * 8–12 points below those figures, for other CPUs' rounding and another selected epoch.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import type { GpuContext } from '../src/node.js';
import { writeSyntheticDataset } from '../src/data/synthetic-faces-node.js';
import { runSynth } from '../src/data/degrade/synth.js';
import { nodeSynthLayout } from '../src/data/degrade/synth-node.js';
import { encodePng, readImageFile } from '../src/io/image-node.js';
import { openSafetensorsFile, writeSafetensorsFile } from '../src/io/safetensors-node.js';
import { PHONE, phonePhotoJpeg } from './helpers/phone-photo.js';
import { syntheticFace } from '../src/data/synthetic-faces.js';
import { openEncoders, Session } from '../src/train/session-node.js';
import { runTraining, readRunOptions, type TrainRunOptions, type RunOutcome } from '../src/train/run-node.js';
import { runOptions } from '../src/train/options.js';
import { RECIPE_CONFIG, RECIPE_STAGE2, RECIPE_TRAINING } from '../src/train/recipe.js';
import { formatPrediction, runPrediction } from '../src/train/predict-node.js';
import { runSweep } from '../src/train/sweep-node.js';
import { faceApiModelDir } from '../src/models/faceapi/load-node.js';
import type { EpochInfo, TrainHooks } from '../src/train/trainer.js';
import { kernelKey, type KernelRequest } from '../src/gpu/kernel.js';
import { runNode } from './helpers/child.js';

const BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));

async function lrdif(args: string[], timeout = 300_000) {
  const r = await runNode([BIN, ...args], { timeout, env: { ...process.env, LRDIF_DEBUG: '' } });
  if (r.error) throw r.error;
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('Warning: '))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr };
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('LRDif end to end (synthetic UDC faces)', () => {
  let ctx: GpuContext;
  let root: string;
  /** `lrdif eval` of a checkpoint on the run's UDC faces (its test split, its embedding cache). */
  const evalArgs = (ckpt: string, ...extra: string[]) => [
    'eval',
    '--ckpt',
    ckpt,
    '--data',
    path.join(root, 'udc'),
    '--format',
    'folder',
    '--test-fraction',
    '0.25',
    ...extra,
    '--cache',
    path.join(root, 'cache'),
  ];
  let session: Session;
  const warnings: string[] = [];
  const log = () => {};
  let base: TrainRunOptions;
  let stage1: RunOutcome;
  const liveAfterEpoch: number[] = [];

  const train = (o: TrainRunOptions, hooks?: TrainHooks, resume = false) => runTraining(o, { session, log, version: 'test', hooks }, resume);

  beforeAll(async () => {
    ctx = await gpu();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-e2e-'));
    await writeSyntheticDataset({ out: path.join(root, 'clean'), n: 420, seed: 0, size: 112, testFraction: 0.25 });
    await runSynth(nodeSynthLayout('folder', path.join(root, 'clean')), path.join(root, 'udc'), {
      kind: 'udc',
      seed: 0,
      batch: 32,
      version: 'test',
      warn: (m) => warnings.push(m),
    });
    const enc = await openEncoders({ path: null, seed: 0 }, path.join(root, 'cache'), log);
    session = await Session.open({ dir: path.join(root, 'udc'), format: 'folder', splitSeed: 0, testFraction: 0.25, valFraction: 0.15 }, enc, log, (m) => warnings.push(m));
    // 420 faces: 105 test, and of the 315 training faces 49 (15 %, stratified: 7 per class) held out for validation
    expect([session.split('train').length, session.split('val').length, session.split('test').length]).toEqual([266, 49, 105]);
    base = runOptions({
      stage: 1,
      data: path.join(root, 'udc'),
      format: 'folder',
      testFraction: 0.25,
      splitSeed: 0,
      config: 'tiny',
      set: { ...RECIPE_CONFIG },
      variant: 'udc',
      ...RECIPE_TRAINING,
      epochs: 20,
      deterministic: true,
      out: path.join(root, 'stage1'),
      cache: path.join(root, 'cache'),
    });
    expect(base.selectOn).toBe('val');
  }, 600_000);

  afterAll(() => {
    session?.dispose();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('stage 1 learns (the label is an input), with GPU memory flat across epochs', async () => {
    stage1 = await train(base, { onEpochEnd: (e) => liveAfterEpoch.push(e.gpuLiveBytes) });
    // the epoch is chosen on val; test is evaluated once, with that epoch's weights
    expect(stage1.result.best.split).toBe('val');
    expect(stage1.result.test!.accuracy).toBeGreaterThanOrEqual(0.45);
    expect(stage1.result.test!.n).toBe(105);
    expect(stage1.result.test!.epoch).toBe(stage1.result.best.epoch);
    expect(stage1.result.steps).toBe(20 * 9);
    expect(stage1.result.collapse).toBeNull();
    // memory after every epoch (weights, optimiser state, caches of kernels) is the same
    expect(new Set(liveAfterEpoch.slice(1)).size, liveAfterEpoch.join(', ')).toBe(1);
    expect(liveAfterEpoch[0]).toBe(liveAfterEpoch[1]);
    const lines = fs
      .readFileSync(path.join(base.out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'step')).toHaveLength(180);
    const evals = lines.filter((l) => l.type === 'eval');
    expect(evals).toHaveLength(20);
    expect(evals.every((l) => l.split === 'val' && l.n === 49)).toBe(true);
    expect(Math.max(...evals.map((l) => l.accuracy))).toBe(stage1.result.best.accuracy);
    const tests = lines.filter((l) => l.type === 'test');
    expect(tests).toHaveLength(1);
    expect(lines[lines.length - 1].type).toBe('test');
    expect(tests[0]).toMatchObject({ selected_epoch: stage1.result.best.epoch, selected_on: 'val', split: 'test', n: 105, accuracy: stage1.result.test!.accuracy });
    const result = JSON.parse(fs.readFileSync(path.join(base.out, 'result.json'), 'utf8'));
    expect(result).toMatchObject({ selected_epoch: stage1.result.best.epoch, accuracy: stage1.result.test!.accuracy, selected_on: 'val' });
    for (const f of ['best.safetensors', 'last.safetensors', 'run.json', 'result.json', 'clip/model.safetensors', 'clip/config.json'])
      expect(fs.existsSync(path.join(base.out, f)), f).toBe(true);
    expect(fs.existsSync(path.join(base.out, '.lock'))).toBe(false);
  }, 900_000);

  it("a dry run of the training step lists its kernels for a helper to compile ahead or to build in parallel, and changes none of the run's results", async () => {
    const o = { ...base, epochs: 1 };
    // no dry run: each pipeline built when the step reaches it
    const off = await runTraining({ ...o, out: path.join(root, 'ahead-off') }, { session, log, version: 'test', prepareAhead: false });
    // the default: the step's pipelines built in parallel before it
    const prepared = await train({ ...o, out: path.join(root, 'ahead-prepared') });
    const added: KernelRequest[][] = [];
    let stops = 0;
    // every kernel the run dispatches for real (the dry run's are refused before they reach the encoder)
    const dispatched = new Set<string>();
    const dispatch = ctx.dispatch.bind(ctx);
    ctx.dispatch = (k, args) => {
      dispatched.add('pipeline' in k ? k.label : kernelKey(k));
      dispatch(k, args);
    };
    let on: RunOutcome;
    try {
      on = await runTraining({ ...o, out: path.join(root, 'ahead-on') }, { session, log, version: 'test', compileAhead: { add: (k) => added.push(k), stop: () => stops++ } });
    } finally {
      delete (ctx as { dispatch?: unknown }).dispatch;
    }
    expect(added).toHaveLength(1);
    const keys = added[0].map(kernelKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.length).toBeGreaterThan(20);
    for (const k of keys) expect(dispatched.has(k), k).toBe(true);
    expect(keys.some((k) => /backward|bwd/.test(k))).toBe(true);
    expect(stops).toBe(9);
    // the same losses at every step, the same epoch chosen and the same test accuracy
    const steps = (dir: string) =>
      fs
        .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .filter((l) => JSON.parse(l).type !== 'epoch');
    expect(steps(path.join(root, 'ahead-on'))).toEqual(steps(path.join(root, 'ahead-off')));
    expect(steps(path.join(root, 'ahead-prepared'))).toEqual(steps(path.join(root, 'ahead-off')));
    expect(on.result.test).toEqual(off.result.test);
    expect(prepared.result.test).toEqual(off.result.test);
  }, 600_000);

  it('a run killed mid-epoch and resumed writes the uninterrupted metrics; a NaN loss names its step and keeps the last checkpoint', async () => {
    const out = path.join(root, 'resumed');
    const o = { ...base, epochs: 2, out };
    await expect(
      train(o, {
        onStep: (s) => {
          if (s.epoch === 2 && s.batch === 4) throw new Error('simulated crash');
        },
      }),
    ).rejects.toThrow('simulated crash');
    const partial = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8');
    expect(partial).toContain('"epoch":2,"batch":4');
    await train(readRunOptions(out), undefined, true);
    const resumed = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n');
    // the constant schedule makes the 2-epoch run a prefix of the 20-epoch one (then its own final test)
    const full = fs.readFileSync(path.join(base.out, 'metrics.jsonl'), 'utf8').split('\n');
    const prefix = full.filter((l) => l && (JSON.parse(l) as { epoch: number }).epoch <= 2);
    expect(resumed.filter((l) => l && JSON.parse(l).type !== 'test').join('\n')).toBe(prefix.join('\n'));
    expect(resumed.filter((l) => l && JSON.parse(l).type === 'test')).toHaveLength(1);

    // continue with an absurd learning rate: the weights blow up, the loss turns NaN
    const before = sha(path.join(out, 'last.safetensors'));
    const runJson = path.join(out, 'run.json');
    fs.writeFileSync(runJson, JSON.stringify({ ...readRunOptions(out), lr: 1e30 }));
    // --epochs may change on --resume, and run.json then says so
    await expect(train({ ...readRunOptions(out), epochs: 3 }, undefined, true)).rejects.toThrow(
      new RegExp(
        `the loss is (NaN|Infinity|-Infinity) at step (19|20) \\(stage 1, epoch 3, batch [12] of 9\\); stopped before updating the weights\\. The last good checkpoint is ${out.replace(/[/\\]/g, '.')}.last\\.safetensors \\(epoch 2\\)`,
      ),
    );
    expect(sha(path.join(out, 'last.safetensors'))).toBe(before);
    expect(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')).toMatch(/"type":"diverged","stage":1,"epoch":3/);
    expect(readRunOptions(out).epochs).toBe(3);
  }, 600_000);

  it('a refit (select-on last) trains on every training image, keeps each epoch as best and tests the last once', async () => {
    const o: TrainRunOptions = { ...base, selectOn: 'last', valFraction: 0, epochs: 2, out: path.join(root, 'refit') };
    // the session above carved a validation split: a refit with it would silently train on less
    await expect(train({ ...o, out: path.join(root, 'refit-carved') })).rejects.toThrow(
      /a refit \(--select-on last\) trains on every training image, but the session carved 0\.15 of them out as validation/,
    );
    expect(fs.existsSync(path.join(root, 'refit-carved'))).toBe(false);
    // the same encoders (not disposed here: the main session owns them)
    const all = await Session.open({ dir: path.join(root, 'udc'), format: 'folder', splitSeed: 0, testFraction: 0.25, valFraction: 0 }, session.encoders, log, (m) =>
      warnings.push(m),
    );
    expect([all.split('train').length, all.split('val').length, all.split('test').length]).toEqual([315, 0, 105]);
    const seen: EpochInfo[] = [];
    const r = await runTraining(o, { session: all, log, version: 'test', hooks: { onEpochEnd: (e) => seen.push(e) } });
    expect(r.result.steps).toBe(2 * 10); // 315 images in batches of 32, the 49 of val among them
    expect(seen.map((e) => [e.epoch, e.eval, e.split, e.improved, e.best.epoch])).toEqual([
      [1, null, 'last', true, 1],
      [2, null, 'last', true, 2],
    ]);
    expect(r.result.best).toMatchObject({ epoch: 2, split: 'last' });
    expect(r.result.test).toMatchObject({ epoch: 2, selectedOn: 'last', n: 105 });
    const lines = fs
      .readFileSync(path.join(o.out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'eval')).toHaveLength(0);
    expect(lines.filter((l) => l.type === 'epoch').map((l) => [l.epoch, l.best_epoch, 'best_accuracy' in l])).toEqual([
      [1, 1, false],
      [2, 2, false],
    ]);
    const tests = lines.filter((l) => l.type === 'test');
    expect(tests).toHaveLength(1);
    expect(tests[0]).toMatchObject({ selected_epoch: 2, selected_on: 'last', selection_accuracy: null, split: 'test', n: 105, accuracy: r.result.test!.accuracy });
    // `best` is the last epoch, so stage 2's --from <run>/best.safetensors takes the refit's model
    expect(sha(path.join(o.out, 'best.safetensors'))).toBe(sha(path.join(o.out, 'last.safetensors')));
    // a sweep compares variants on a selection split, which a refit does not have
    const sw = await lrdif(['sweep', '--data', path.join(root, 'udc'), '--format', 'folder', '--select-on', 'last', '--out', path.join(root, 'refit-sweep')]);
    expect(sw.status).not.toBe(0);
    expect(sw.stderr).toMatch(/lrdif: error: sweep: --select-on last \(a refit\) evaluates nothing to compare the variants on/);
  }, 600_000);

  it("stage 2 reaches well above chance from the image alone; a step's memory does not depend on the batches before it", async () => {
    const peaks: Array<{ batch: number; images: number; peak: number }> = [];
    const s2 = await train(
      { ...base, stage: 2, set: {}, ...RECIPE_STAGE2, epochs: 8, from: path.join(base.out, 'best.safetensors'), out: path.join(root, 'stage2') },
      {
        onStep: (s) => {
          peaks.push({ batch: s.batch, images: s.images, peak: ctx.pool.getStats().peakLiveBytes });
          ctx.pool.resetPeak();
        },
      },
    );
    // seven classes: chance is 14.3 % (measured 32.4 %, epoch 7 chosen on val; see the top)
    expect(s2.result.test!.accuracy).toBeGreaterThanOrEqual(0.24);
    expect(s2.result.collapse).toBeNull();
    // every full batch after the first of its epoch (which also covers the evaluation before it) peaks alike
    const steady = peaks.filter((p) => p.batch > 1 && p.images === 32).map((p) => p.peak);
    expect(steady.length).toBeGreaterThan(30);
    expect(new Set(steady).size, steady.join(', ')).toBe(1);
  }, 600_000);

  it('lrdif eval scores the checkpoint as training did, with confusion matrix and t-SNE files', async () => {
    const ckpt = path.join(root, 'stage2', 'best.safetensors');
    const out = path.join(root, 'eval');
    const r = await lrdif(evalArgs(ckpt, '--out', out, '--tsne', '--json'));
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { accuracy: number; n: number; confusion: number[][]; classes: string[]; files: string[]; stage: number };
    // the trainer's final test of the selected epoch, scored the same way
    const trained = JSON.parse(fs.readFileSync(path.join(root, 'stage2', 'result.json'), 'utf8')) as { accuracy: number };
    expect(j.stage).toBe(2);
    expect(j.n).toBe(105);
    expect(j.accuracy).toBe(trained.accuracy);
    expect(j.confusion.flat().reduce((a, b) => a + b, 0)).toBe(105);
    expect(j.classes).toHaveLength(7);
    for (const f of ['eval.json', 'confusion.svg', 'tsne.svg', 'tsne.json']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const svg = fs.readFileSync(path.join(out, 'confusion.svg'), 'utf8');
    expect((svg.match(/<rect /g) ?? []).length).toBe(1 + 49);
    const ts = JSON.parse(fs.readFileSync(path.join(out, 'tsne.json'), 'utf8')) as { points: unknown[] };
    expect(ts.points).toHaveLength(105);
    // flip test-time augmentation: said in the JSON, scored over the same images
    expect((j as unknown as { tta: string }).tta).toBe('none');
    const f = await lrdif(evalArgs(ckpt, '--tta', 'flip', '--no-figures', '--json'));
    expect(f.status, f.stderr).toBe(0);
    const fj = JSON.parse(f.stdout) as { tta: string; n: number; confusion: number[][] };
    expect(fj.tta).toBe('flip');
    expect(fj.n).toBe(105);
    expect(fj.confusion.flat().reduce((a, b) => a + b, 0)).toBe(105);
  });

  it('eval and predict say so when a checkpoint predicts one class', async () => {
    // the stage-2 checkpoint with its classifier pushed to 'happiness' whatever the face, and the
    // training's collapse record as the trainer writes it
    const src = path.join(root, 'stage2', 'best.safetensors');
    const r = openSafetensorsFile(src);
    const entries = r.names().map((name) => {
      const info = r.info(name);
      const data = r.getHostArray(name, 'f32').slice();
      if (name === 'model.udcformer.classifier.bias') data[1] += 1000;
      return { name, dtype: 'F32' as const, shape: [...info.shape], data };
    });
    const metrics = { ...JSON.parse(r.metadata.metrics), collapse: { kind: 'one-class', split: 'val', class: 'happiness', share: 1, epochs: null } };
    const metadata = { ...r.metadata, metrics: JSON.stringify(metrics) };
    r.close();
    const collapsed = path.join(root, 'collapsed.safetensors');
    writeSafetensorsFile(collapsed, entries, metadata);
    const evalCollapsed = (...extra: string[]) => lrdif(evalArgs(collapsed, '--no-figures', ...extra));
    const ev = await evalCollapsed();
    expect(ev.status, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/warning: the model predicts 'happiness' for 100\.0 % of the 105 test images \(that class is 14\.3 % of them\): it has collapsed to one class/);
    const evj = await evalCollapsed('--json');
    expect((JSON.parse(evj.stdout) as { collapse: { kind: string; class: string } }).collapse).toMatchObject({ kind: 'one-class', class: 'happiness' });
    const crop = path.join(root, 'udc', 'test', 'surprise', fs.readdirSync(path.join(root, 'udc', 'test', 'surprise')).sort()[0]);
    const pr = await lrdif(['predict', '--ckpt', collapsed, crop, '--detect', 'never', '--no-cache']);
    expect(pr.status, pr.stderr).toBe(0);
    expect(pr.stdout).toContain("warning: this checkpoint predicts one class: 'happiness' for 100.0 % of its val images when it was written");
    // the real checkpoint gets no warning
    const ok = await lrdif(['predict', '--ckpt', src, crop, '--detect', 'never', '--no-cache']);
    expect(ok.stdout).not.toContain('warning');
  }, 600_000);

  it('predict gives class probabilities for face crops and for the faces of a photo', async () => {
    const ckpt = path.join(root, 'stage2', 'best.safetensors');
    const crops = ['happiness', 'surprise'].map((c) => {
      const dir = path.join(root, 'udc', 'test', c);
      return path.join(dir, fs.readdirSync(dir).sort()[0]);
    });
    const photo = path.join(path.dirname(faceApiModelDir()), 'demo', 'sample1.jpg');
    const r = await runPrediction({ ckpt, images: [...crops, photo], clip: null, detect: 'auto', seed: null, cacheDir: null, scoreThreshold: 0.5 }, log);
    expect(r.images.map((i) => i.kind)).toEqual(['crop', 'crop', 'photo']);
    expect(r.images[2].faces.length).toBeGreaterThan(0);
    for (const im of r.images) {
      for (const f of im.faces) {
        const p = Object.values(f.probabilities);
        expect(p).toHaveLength(7);
        expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        expect(f.probabilities[f.top]).toBe(Math.max(...p));
      }
    }
    expect(r.images[2].faces[0].box).not.toBeNull();
    // a seed ensemble (best and last of the run, two different epochs): each face gets the mean of the two checkpoints' own probabilities
    const last = path.join(root, 'stage2', 'last.safetensors');
    const crop = (c: string, members?: string[]) =>
      runPrediction({ ckpt: c, members, images: crops, clip: null, detect: 'never', seed: null, cacheDir: null, scoreThreshold: 0.5 }, log);
    const [pb, pl, pe] = [await crop(ckpt), await crop(last), await crop(ckpt, [last])];
    expect(pe.ensemble).toEqual([
      { path: ckpt, epoch: pb.checkpoint.epoch },
      { path: last, epoch: pl.checkpoint.epoch },
    ]);
    expect(pb.checkpoint.epoch).not.toBe(pl.checkpoint.epoch);
    let apart = 0;
    pe.images.forEach((im, i) => {
      for (const c of Object.keys(im.faces[0].probabilities)) {
        const [b, l] = [pb.images[i].faces[0].probabilities[c], pl.images[i].faces[0].probabilities[c]];
        expect(im.faces[0].probabilities[c]).toBeCloseTo((b + l) / 2, 6);
        apart = Math.max(apart, Math.abs(b - l));
      }
    });
    expect(apart).toBeGreaterThan(1e-3);
    expect(formatPrediction(pe)).toMatch(/^model: an ensemble of 2 checkpoints \(the mean of their probabilities\): .*best\.safetensors, .*last\.safetensors\n/);
    await expect(crop(ckpt, [path.join(base.out, 'best.safetensors')])).rejects.toThrow(/best\.safetensors is a stage-1 checkpoint; prediction needs stage 2/);
    // a 12-megapixel phone photo held upright (EXIF orientation 6): read, turned, scaled to 2048 on the CPU;
    // its faces found where the canvas put sample1's, in the photo's own pixels
    const phone = path.join(root, 'phone.jpg');
    fs.writeFileSync(phone, phonePhotoJpeg(readImageFile(photo)));
    const big = await runPrediction({ ckpt, images: [phone, photo], clip: null, detect: 'auto', seed: null, cacheDir: null, scoreThreshold: 0.5 }, log);
    expect(big.images[0]).toMatchObject({ kind: 'photo', width: PHONE.width, height: PHONE.height, processed: { width: 2048, height: 1536 } });
    expect(big.images[1].processed).toBeUndefined();
    expect(big.images[0].faces.length).toBe(big.images[1].faces.length);
    const [ox, oy] = PHONE.offset;
    for (const f of big.images[0].faces) {
      const b = f.box!;
      expect(b.x).toBeGreaterThan(ox - 0.05 * b.width);
      expect(b.y).toBeGreaterThan(oy - 0.05 * b.height);
      expect(b.x + b.width).toBeLessThan(ox + 2 * 1920 + 0.05 * b.width);
      expect(b.y + b.height).toBeLessThan(oy + 2 * 1280 + 0.05 * b.height);
    }
    // each face of the phone photo is one of sample1's, doubled and shifted (loosely: another resampling)
    for (const f of big.images[0].faces) {
      const near = big.images[1].faces.some((g) => Math.abs(f.box!.x - (2 * g.box!.x + ox)) < 0.2 * f.box!.width && Math.abs(f.box!.y - (2 * g.box!.y + oy)) < 0.2 * f.box!.height);
      expect(near).toBe(true);
    }
    await expect(
      runPrediction({ ckpt: path.join(base.out, 'best.safetensors'), images: crops, clip: null, detect: 'never', seed: null, cacheDir: null, scoreThreshold: 0.5 }, log),
    ).rejects.toThrow('is a stage-1 checkpoint; prediction needs stage 2');
  }, 600_000);

  it('the sweep writes the layouts of Table 5 and Fig. 6', async () => {
    const out = path.join(root, 'sweep');
    const r = await runSweep(
      {
        base: { ...base, lr: 1e-3 },
        from: path.join(base.out, 'best.safetensors'),
        epochs1: 1,
        epochs2: 1,
        variants: ['V1', 'V3'],
        timesteps: [1, 4],
        baseT: 4,
        parameterisation: 'x0',
        out,
      },
      (o) => train(o),
      log,
      'synthetic-udc',
    );
    expect(r.table.map((t) => t.variant)).toEqual(['V1', 'V3']);
    expect(r.fig6.map((t) => t.timesteps)).toEqual([1, 4]);
    // V3 at T = 4 ran once and serves both
    expect(r.fig6[1].run).toBe(r.table[1].run);
    const md = fs.readFileSync(path.join(out, 'table5.md'), 'utf8');
    expect(md).toMatch(/\| V1: without diffusion .* \| ✗ \| ✓ \| ✓ \| - \| \d+\.\d\d \| 1 \|/);
    expect(md).toMatch(/\| V3: CE \+ KL \(LRDif\) \| ✓ \| ✓ \| ✓ \| ✓ \| \d+\.\d\d \| 1 \|/);
    const svg = fs.readFileSync(path.join(out, 'fig6.svg'), 'utf8');
    expect((svg.match(/<circle /g) ?? []).length).toBe(2);
    const cfg1 = JSON.parse(fs.readFileSync(path.join(out, 'stage2-V3-T1', 'run.json'), 'utf8')) as TrainRunOptions;
    expect(cfg1.timesteps).toBe(1);
    expect(cfg1.parameterisation).toBe('x0');
  }, 600_000);

  it('lrdif train skips a corrupt image with a warning; a malformed label file is an error naming its line', async () => {
    const small = path.join(root, 'small');
    for (const [split, n] of [
      ['train', 2],
      ['test', 1],
    ] as const) {
      for (const c of ['happy', 'sad', 'angry']) {
        fs.mkdirSync(path.join(small, split, c), { recursive: true });
        for (let i = 0; i < n; i++) fs.writeFileSync(path.join(small, split, c, `${i}.png`), encodePng(syntheticFace(3, i * 7 + c.length, 112).image));
      }
    }
    // three unreadable files among 9: a truncated PNG, an empty JPEG, text named .png
    fs.writeFileSync(path.join(small, 'train', 'sad', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n truncated'));
    fs.writeFileSync(path.join(small, 'train', 'happy', 'empty.jpg'), new Uint8Array(0));
    fs.writeFileSync(path.join(small, 'train', 'angry', 'notes.png'), 'not an image');
    const out = path.join(root, 'cli-run');
    // the tiny CLIP saved by the stage-1 run, given as a CLIP folder (Hugging Face layout)
    const clipDir = path.join(base.out, 'clip');
    // two training images per class leave no room for a validation split: the paper's protocol
    const args = [
      'train',
      '--stage',
      '1',
      '--data',
      small,
      '--format',
      'folder',
      '--clip',
      clipDir,
      '--config',
      'tiny',
      '--set',
      'imageSize=32',
      '--set',
      'window=2',
      '--epochs',
      '1',
      '--batch',
      '3',
      '--select-on',
      'test',
      '--out',
      out,
      '--cache',
      path.join(root, 'cache'),
      '--plain',
    ];
    const r = await lrdif(args);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/lrdif: skipping .*train\/sad\/broken\.png: /);
    expect(r.stderr).toMatch(/lrdif: skipping .*train\/happy\/empty\.jpg: .*the file is empty \(0 bytes\)/);
    // the 6 readable images are what the run counts and uses: two full batches of 3, not 9 images in 3 steps
    expect(r.stdout).toMatch(/1 epochs of 6 images in batches of 3/);
    expect(r.stdout).toMatch(/stage 1 epoch 1\/1 step 2\/2 .* img\/s .*loss \d+\.\d{4} .*acc [\d.]+% .*ETA/);
    expect(r.stdout).toMatch(/done: 2 steps; best test accuracy [\d.]+% at epoch 1/);
    const steps = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === 'step');
    expect(steps.map((l) => l.images)).toEqual([3, 3]);
    expect(fs.existsSync(path.join(out, 'best.safetensors'))).toBe(true);
    // eval finds the CLIP folder through the checkpoint's record and checks its hash
    const ev = await lrdif(['eval', '--ckpt', path.join(out, 'best.safetensors'), '--data', small, '--format', 'folder', '--no-figures', '--json', '--no-cache']);
    expect(ev.status, ev.stderr).toBe(0);
    const evj = JSON.parse(ev.stdout) as { n: number; stage: number; files: string[]; accuracy: number; per_class: Record<string, number | null> };
    expect([evj.n, evj.stage, evj.files.length]).toEqual([3, 1, 0]);
    // --ckpt twice: an ensemble; of best and last of this one-epoch run (the same weights) it scores what each scores
    const bestAndLast = ['eval', '--ckpt', path.join(out, 'best.safetensors'), '--ckpt', path.join(out, 'last.safetensors'), '--data', small, '--format', 'folder'];
    const ens = await lrdif([...bestAndLast, '--no-figures', '--json', '--no-cache']);
    expect(ens.status, ens.stderr).toBe(0);
    const ensj = JSON.parse(ens.stdout) as typeof evj & { ensemble: { checkpoint: string; accuracy: number }[] };
    expect(ensj.ensemble.map((m) => [path.basename(m.checkpoint), m.accuracy])).toEqual([
      ['best.safetensors', evj.accuracy],
      ['last.safetensors', evj.accuracy],
    ]);
    expect([ensj.n, ensj.stage, ensj.accuracy, ensj.per_class]).toEqual([3, 1, evj.accuracy, evj.per_class]);
    const mixed = await lrdif([...bestAndLast, '--model', 'udc']);
    expect(mixed.stderr).toBe('lrdif: error: eval: give either --ckpt (your checkpoints) or --model (a shipped model), not both');
    // the same folder again: refused (use --resume)
    const again = await lrdif(args);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('already holds a run (last.safetensors); pass --resume');

    const raf = path.join(root, 'raf');
    fs.mkdirSync(path.join(raf, 'EmoLabel'), { recursive: true });
    fs.mkdirSync(path.join(raf, 'Image', 'aligned'), { recursive: true });
    fs.writeFileSync(path.join(raf, 'EmoLabel', 'list_patition_label.txt'), 'train_00001.jpg 5\ntrain_00002.jpg nine\n');
    const bad = await lrdif(['train', '--stage', '1', '--data', raf, '--format', 'rafdb', '--out', path.join(root, 'raf-run'), '--no-cache']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^lrdif: error: RAF-DB: .*list_patition_label\.txt:2: label must be an integer 1\.\.7, got 'nine'$/m);
    const noFrom = await lrdif(['train', '--stage', '2', '--data', raf, '--format', 'rafdb', '--out', path.join(root, 'x')]);
    expect(noFrom.stderr).toBe('lrdif: error: train: stage 2 needs --from <stage-1 checkpoint>');
  }, 600_000);
});
