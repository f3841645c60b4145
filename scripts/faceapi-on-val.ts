/**
 * face-api's zero-shot expression net on the validation split `lrdif train` carves (issue 10):
 * the split the LRDif runs select their epoch on, to read the baseline's val figures beside them.
 *
 *   npx tsx scripts/faceapi-on-val.ts --data <folder dataset> [--val-fraction 0.15] [--split-seed 0]
 */
import { initNode } from '../src/node.js';
import { carveValidation, loadDataset } from '../src/data/datasets/index.js';
import { nodeDataSource } from '../src/data/datasets/source-node.js';
import { loadFaceExpressionNet } from '../src/models/faceapi/load-node.js';
import { splitWithIndices } from '../src/train/pipeline.js';
import { scoreFaceApiZeroShot } from '../src/baseline/faceapi-zero-shot.js';

const args = process.argv.slice(2);
const opt = (k: string, d: string) => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1] : d);
await initNode();
const seed = Number(opt('split-seed', '0'));
let ds = await loadDataset('folder', opt('data', ''), nodeDataSource(), { seed, testFraction: 0.2, warn: (m) => console.error(m) });
ds = carveValidation(ds, { fraction: Number(opt('val-fraction', '0.15')), seed }).dataset;
const val = splitWithIndices(ds, 'val');
const net = await loadFaceExpressionNet();
const r = await scoreFaceApiZeroShot(net, val, { degrade: null, batchSize: 64 });
const rep = r.report;
console.log(
  JSON.stringify({
    split: 'val',
    n: rep.n,
    excluded: r.excluded,
    accuracy: rep.accuracy,
    mean_class_accuracy: rep.meanClassAccuracy,
    per_class: Object.fromEntries(rep.classNames.map((c, i) => [c, rep.perClass[i]])),
  }),
);
