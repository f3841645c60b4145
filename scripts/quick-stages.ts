/**
 * Stage 1 then stage 2 of the recipe on a synthetic face set, printing every epoch's selection
 * accuracy and the final test with its predictions per class: the measurements behind the demo's
 * defaults and the sizes of test/train-e2e.test.ts and test/lowlight-collapse.test.ts.
 *
 *   npx tsx scripts/quick-stages.ts <work dir> [key=value ...]
 *     variant=udc|lowlight n=420 e1=8 e2=8 batch=32 lr=1e-3 lr2=1e-3 inputNorm=exposure
 *     imageEncoder=faceapi-expression classBalance=none size=32 seed=0 val=0.15
 * The data (<work dir>/data-<variant>-<n>) and embedding cache are reused between calls.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initNode } from '../src/node.js';
import { writeSyntheticDataset } from '../src/data/synthetic-faces-node.js';
import { runSynth } from '../src/data/degrade/synth.js';
import { nodeSynthLayout } from '../src/data/degrade/synth-node.js';
import { openEncoders, Session } from '../src/train/session-node.js';
import { runTraining } from '../src/train/run-node.js';
import { runOptions } from '../src/train/options.js';
import { epochEval, type EpochInfo } from '../src/train/trainer.js';
import { RECIPE_CONFIG, RECIPE_STAGE2, RECIPE_TRAINING } from '../src/train/recipe.js';

const [work, ...kv] = process.argv.slice(2);
if (!work) throw new Error('usage: quick-stages.ts <work dir> [key=value ...]');
const a: Record<string, string> = Object.fromEntries(kv.map((s) => s.split('=') as [string, string]));
const variant = (a.variant ?? 'udc') as 'udc' | 'lowlight';
const n = Number(a.n ?? 420);
const size = Number(a.size ?? 32);
const val = Number(a.val ?? 0.15);
const tag = a.tag ?? `${Date.now()}`;

const t0 = performance.now();
const cpu0 = process.cpuUsage();
const log = (m: string) => process.stdout.write(`${m}\n`);
await initNode();
const clean = path.join(work, `clean-${n}`);
const data = path.join(work, `data-${variant}-${n}`);
if (!fs.existsSync(path.join(clean, 'synthetic.json'))) await writeSyntheticDataset({ out: clean, n, seed: 0, size: 112, testFraction: 0.25 });
if (!fs.existsSync(path.join(data, 'synth.json'))) await runSynth(nodeSynthLayout('folder', clean), data, { kind: variant, seed: 0, batch: 32, version: 'test', warn: () => {} });
const cache = a.cache ?? path.join(work, 'cache');
const enc = await openEncoders({ path: null, seed: 0 }, cache, () => {});
const session = await Session.open(
  { dir: data, format: 'folder', splitSeed: 0, testFraction: 0.25, valFraction: val },
  enc,
  () => {},
  () => {},
);
log(
  `data ${data}: train ${session.split('train').length} val ${val ? session.split('val').length : 0} test ${session.split('test').length}; ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
const out = path.join(work, `run-${tag}`);
fs.rmSync(out, { recursive: true, force: true });
const common = {
  data,
  format: 'folder' as const,
  testFraction: 0.25,
  valFraction: val,
  selectOn: (val ? 'val' : 'test') as 'val' | 'test',
  variant,
  ...RECIPE_TRAINING,
  batch: Number(a.batch ?? RECIPE_TRAINING.batch),
  seed: Number(a.seed ?? 0),
  deterministic: true,
  cache,
};
const set = {
  ...RECIPE_CONFIG,
  imageSize: size,
  window: size / 16,
  ...(a.inputNorm ? { inputNorm: a.inputNorm } : {}),
  ...(a.imageEncoder ? { imageEncoder: a.imageEncoder } : {}),
  ...(a.classBalance ? { classBalance: a.classBalance } : {}),
};
const hooks = (stage: number) => ({
  onEpochEnd: (e: EpochInfo) => {
    log(`s${stage} epoch ${e.epoch}: train ${(100 * e.trainAccuracy).toFixed(1)} sel ${(100 * epochEval(e).report.accuracy).toFixed(1)} (${e.seconds.toFixed(1)} s)`);
  },
});
const t1 = performance.now();
const s1 = await runTraining(runOptions({ ...common, stage: 1, config: 'tiny', set, epochs: Number(a.e1 ?? 8), lr: Number(a.lr ?? 1e-3), out: path.join(out, 's1') }), {
  session,
  log: () => {},
  version: 'test',
  hooks: hooks(1),
});
log(`s1 test ${(100 * s1.result.test!.accuracy).toFixed(1)} (epoch ${s1.result.best.epoch}) ${((performance.now() - t1) / 1000).toFixed(1)} s`);
const t2 = performance.now();
const s2 = await runTraining(
  runOptions({
    ...common,
    stage: 2,
    from: path.join(out, 's1', 'best.safetensors'),
    ...RECIPE_STAGE2,
    epochs: Number(a.e2 ?? 8),
    lr: Number(a.lr2 ?? 1e-3),
    out: path.join(out, 's2'),
  }),
  { session, log: () => {}, version: 'test', hooks: hooks(2) },
);
const test = s2.result.test!;
const conf = test.eval.report.confusion;
const predicted = conf[0].map((_, j) => conf.reduce((s, row) => s + row[j], 0));
const cpu = process.cpuUsage(cpu0);
log(
  `RESULT ${JSON.stringify(a)} s1 ${(100 * s1.result.test!.accuracy).toFixed(1)} s2 test ${(100 * test.accuracy).toFixed(1)} (epoch ${s2.result.best.epoch}, sel ${(100 * s2.result.best.accuracy).toFixed(1)}) predicted ${predicted.join(' ')} collapse ${JSON.stringify(s2.result.collapse)}; ` +
    `s2 ${((performance.now() - t2) / 1000).toFixed(1)} s; total wall ${((performance.now() - t0) / 1000).toFixed(1)} s, cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`,
);
session.dispose();
process.exit(0);
