/**
 * Which frozen image embedding carries the expression (issue 10, lever a): writes, for every
 * image of the train / val / test folders of a dataset, candidate e_img vectors as raw float32
 * files for a linear probe (scripts/linear-probe.py):
 *
 *   clip32        the tiny random CLIP's embedding of the 32-px image (what LRDif uses now)
 *   fx112         face-api's FaceExpressionNet pooled features (256) of the 112-px image
 *   fx32          the same of the 32-px image upsampled to 112 (what a 32-px pipeline would give)
 *   fxlogits112   its 7 logits of the 112-px image
 * each also after per-image exposure normalisation ("-exp" suffix).
 *
 *   npx tsx scripts/probe-embeddings.ts --data <folder dataset> --out <dir> [--val-fraction 0.15] [--test-fraction 0.25]
 * (--val-fraction carves the validation split as `lrdif train` does, for datasets without val/)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initNode } from '../src/node.js';
import { noGrad, tidy } from '../src/autograd/engine.js';
import { clamp } from '../src/kernels/elementwise.js';
import { resize } from '../src/kernels/resize.js';
import type { Tensor } from '../src/autograd/tensor.js';
import { DataLoader } from '../src/data/loader.js';
import { loadDataset } from '../src/data/datasets/index.js';
import { nodeDataSource } from '../src/data/datasets/source-node.js';
import { loadFaceExpressionNet } from '../src/models/faceapi/load-node.js';
import { openEncoders } from '../src/train/session-node.js';
import { MODEL_RESIZE } from '../src/train/pipeline.js';
import { exposureNormalize } from '../src/models/lrdif/input-norm.js';

const args = process.argv.slice(2);
const opt = (k: string) => args[args.indexOf(`--${k}`) + 1];
const data = opt('data');
const out = opt('out');
fs.mkdirSync(out, { recursive: true });

const ctx = await initNode();
const enc = await openEncoders({ path: null, seed: 0 }, null, () => {});
const fx = await loadFaceExpressionNet();
const valFraction = args.includes('--val-fraction') ? Number(opt('val-fraction')) : 0;
const testFraction = args.includes('--test-fraction') ? Number(opt('test-fraction')) : 0.2;
const ds = await loadDataset('folder', data, nodeDataSource(), { seed: 0, testFraction, valFraction, warn: console.error });
for (const split of ['train', 'val', 'test'] as const) {
  const sub = ds.split(split);
  if (!sub.length) continue;
  const feats = new Map<string, number[]>();
  const push = async (k: string, t: Tensor) => {
    const v = (await t.data()) as Float32Array;
    const arr = feats.get(k) ?? [];
    for (const x of v) arr.push(x);
    feats.set(k, arr);
    t.dispose();
  };
  const loader = new DataLoader(sub, { batchSize: 32, size: 112, shuffle: false, augment: false, resize: MODEL_RESIZE, prefetch: true });
  const labels: number[] = [];
  for await (const b of loader.epoch(0)) {
    for (const norm of [false, true]) {
      const sfx = norm ? '-exp' : '';
      const x112 = norm ? noGrad(() => exposureNormalize(b.images)) : b.images;
      const x32 = noGrad(() => clamp(resize(x112, 32, 32, MODEL_RESIZE), 0, 1));
      const up = noGrad(() => clamp(resize(x32, 112, 112, { mode: 'bilinear', antialias: true }), 0, 1));
      const clipE = await enc.imageEmbeddings(x32);
      const arr = feats.get(`clip32${sfx}`) ?? [];
      for (const x of clipE) arr.push(x);
      feats.set(`clip32${sfx}`, arr);
      const f112 = noGrad(() => fx.extractor.forward(x112));
      await push(
        `fxlogits112${sfx}`,
        noGrad(() => fx.fc.forward(f112)),
      );
      await push(`fx112${sfx}`, f112);
      await push(
        `fx32${sfx}`,
        noGrad(() => tidy(() => fx.extractor.forward(up))),
      );
      for (const t of [x32, up]) t.dispose();
      if (x112 !== b.images) x112.dispose();
    }
    labels.push(...(await b.labels.data()));
    b.dispose();
  }
  for (const [k, v] of feats) fs.writeFileSync(path.join(out, `${k}.${split}.f32`), Buffer.from(Float32Array.from(v).buffer));
  fs.writeFileSync(path.join(out, `labels.${split}.json`), JSON.stringify(labels));
  console.log(`${split}: ${labels.length} images, ${[...feats.keys()].join(', ')}`);
}
fs.writeFileSync(path.join(out, 'classes.json'), JSON.stringify(ds.classNames));
fx.dispose();
enc.dispose();
ctx.dispose();
