/**
 * Fixtures of the browser tests, made with the Node API in a temp folder:
 * - `clip/model.safetensors` + `clip/config.json`: the tiny random CLIP (seed 5) as a Hugging
 *   Face folder;
 * - `stage2.safetensors`: a tiny-config LRDif stage-2 checkpoint (seed 7) in the trainer's
 *   checkpoint format, recording that CLIP by the file's SHA-256 (its classifier weights scaled
 *   ×CLASSIFIER_GAIN so the class probabilities are far from uniform and a difference shows);
 * - `wrong-config.safetensors`: the same tensors under the metadata of a wider config;
 * - `stage1.safetensors`: the same tensors as a stage-1 checkpoint;
 * - `not-safetensors.safetensors`: a text file;
 * - `photo.png`: face-api's demo photo sample1.jpg (three faces) halved to 960×640 (2×2 means).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tinyRandomClip, sha256Hex, type ClipRecord } from '../../src/train/encoders.js';
import { checkpointEntries, type CheckpointMeta } from '../../src/train/checkpoint.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { LrdifModel } from '../../src/models/lrdif/lrdif.js';
import { makeLrdifConfig } from '../../src/models/lrdif/config.js';
import { BASIC_CLASSES } from '../../src/data/datasets/types.js';
import { loadClipTokenizer } from '../../src/models/clip/tokenizer-node.js';
import { readImageFile, encodePng } from '../../src/io/image-node.js';
import { faceApiModelDir } from '../../src/models/faceapi/load-node.js';
import { noGrad, tidy } from '../../src/autograd/engine.js';
import { mulScalar } from '../../src/kernels/elementwise.js';
import type { RgbImage } from '../../src/io/image.js';
import { clipToFiles } from '../../web/src/clip-file.js';

export const CLASSIFIER_GAIN = 12;
export const NOISE_SEED = 11;

export interface BrowserFixtures {
  dir: string;
  clipDir: string;
  clipWeights: string;
  clipConfig: string;
  checkpoint: string;
  stage1: string;
  wrongConfig: string;
  notSafetensors: string;
  photo: string;
}

/** face-api's sample1.jpg, each 2×2 block averaged (rounded): 1920×1280 → 960×640. */
export function halfSizePhoto(): RgbImage {
  const src = readImageFile(join(dirname(faceApiModelDir()), 'demo', 'sample1.jpg'));
  const w = src.width >> 1;
  const h = src.height >> 1;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number) => src.data[(yy * src.width + xx) * 3 + c];
        data[(y * w + x) * 3 + c] = Math.round((at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4);
      }
    }
  }
  return { width: w, height: h, data };
}

export async function makeFixtures(dir: string): Promise<BrowserFixtures> {
  const clipDir = join(dir, 'clip');
  mkdirSync(clipDir, { recursive: true });
  const clip = tinyRandomClip(5, loadClipTokenizer());
  const files = await clipToFiles(clip);
  clip.dispose();
  const clipWeights = join(clipDir, 'model.safetensors');
  const clipConfig = join(clipDir, 'config.json');
  writeFileSync(clipWeights, files.weights);
  writeFileSync(clipConfig, files.config);
  const record: ClipRecord = { kind: 'file', path: 'clip/model.safetensors', hash: await sha256Hex(files.weights), projectionDim: 32, imageSize: 32 };

  const config = makeLrdifConfig('tiny', { numClasses: BASIC_CLASSES.length, clipDim: 32 });
  const model = new LrdifModel(config, { seed: 7 });
  const w = model.udcformer.classifier.weight;
  const scaled = noGrad(() => tidy(() => mulScalar(w, CLASSIFIER_GAIN)));
  w.ctx.copy(scaled.buffer, 0, w.buffer, 0, w.size * 4);
  scaled.dispose();
  const meta: CheckpointMeta = {
    stage: 2,
    epoch: 3,
    step: 30,
    config,
    classNames: [...BASIC_CLASSES],
    rng: { seed: NOISE_SEED },
    train: { data: 'browser test fixture' },
    clip: record,
    metrics: {},
    version: 'test',
  };
  const write = async (file: string, m: CheckpointMeta) => {
    const { entries, metadata } = await checkpointEntries(model, null, m);
    writeFileSync(file, serializeSafetensors(entries, metadata));
  };
  const checkpoint = join(dir, 'stage2.safetensors');
  const stage1 = join(dir, 'stage1.safetensors');
  const wrongConfig = join(dir, 'wrong-config.safetensors');
  await write(checkpoint, meta);
  await write(stage1, { ...meta, stage: 1 });
  await write(wrongConfig, { ...meta, config: makeLrdifConfig(config, { dim: 16 }) });
  model.dispose();
  const notSafetensors = join(dir, 'not-safetensors.safetensors');
  writeFileSync(notSafetensors, 'this is a text file, not a checkpoint\n');
  const photo = join(dir, 'photo.png');
  writeFileSync(photo, encodePng(halfSizePhoto()));
  return { dir, clipDir, clipWeights, clipConfig, checkpoint, stage1, wrongConfig, notSafetensors, photo };
}
