/**
 * CLIP image encoder throughput at ViT-B/32 size (random weights): `npx tsx bench/clip.ts
 * [--batches 1,32] [--reps N] [--preset ViT-B/32] [--json]`.
 *
 * Images per second of `encodeImage` on preprocessed [N, 3, 224, 224] pixels, wall time with
 * the GPU synchronised around each timed call (readback of the [N, P] result included), after
 * one warm-up call per batch size (pipeline compilation). Also the text encoder at batch 8 on
 * full 77-token rows, and encodeTexts on LRDif's seven class prompts.
 */
import { initNode, tensor, type Tensor } from '../src/node.js';
import { ClipModel, CLIP_PRESETS } from '../src/models/clip/index.js';
import { loadClipTokenizer } from '../src/models/clip/tokenizer-node.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const presetName = arg('preset', 'ViT-B/32') as keyof typeof CLIP_PRESETS;
const preset = CLIP_PRESETS[presetName];
if (!preset) throw new Error(`unknown preset ${presetName} (one of ${Object.keys(CLIP_PRESETS).join(', ')})`);
const batches = arg('batches', '1,32').split(',').map(Number);
const reps = Number(arg('reps', '3'));
const json = process.argv.includes('--json');

const ctx = await initNode();
const log = (s: string) => {
  if (!json) console.log(s);
};
log(`device: ${ctx.adapter.summary}`);
let t0 = performance.now();
const model = new ClipModel(preset, { init: 'random', seed: 1 });
await ctx.sync();
log(`${presetName} random init: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const S = preset.vision.imageSize;
const rows: Array<{ what: string; batch: number; msPerCall: number; perSecond: number }> = [];

async function timeCall(fn: () => Tensor): Promise<number> {
  await ctx.sync();
  const t = performance.now();
  const y = fn();
  await y.data();
  y.dispose();
  return performance.now() - t;
}

for (const B of batches) {
  const px = tensor(new Float32Array(B * 3 * S * S).map((_, i) => Math.sin(i * 0.0137)), [B, 3, S, S]);
  t0 = performance.now();
  await timeCall(() => model.encodeImage(px));
  log(`batch ${B}: warm-up ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) times.push(await timeCall(() => model.encodeImage(px)));
  const ms = Math.min(...times);
  rows.push({ what: `${presetName} image encoder`, batch: B, msPerCall: ms, perSecond: (1000 * B) / ms });
  log(`batch ${B}: ${ms.toFixed(0)} ms per call (best of ${reps}; all ${times.map((t) => t.toFixed(0)).join(', ')}) = ${((1000 * B) / ms).toFixed(2)} images/s`);
  px.dispose();
}

{
  const B = 8;
  const ids = new Int32Array(B * 77);
  for (let i = 0; i < B; i++) {
    ids[i * 77] = 49406;
    for (let j = 1; j <= 10 + i; j++) ids[i * 77 + j] = 320 + 17 * j + i;
    ids[i * 77 + 11 + i] = 49407;
  }
  const t = tensor(ids, [B, 77], 'i32');
  await timeCall(() => model.encodeText(t));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) times.push(await timeCall(() => model.encodeText(t)));
  const ms = Math.min(...times);
  rows.push({ what: `${presetName} text encoder`, batch: B, msPerCall: ms, perSecond: (1000 * B) / ms });
  log(`text batch ${B}: ${ms.toFixed(0)} ms per call = ${((1000 * B) / ms).toFixed(2)} texts/s`);
  t.dispose();
}

{
  // LRDif's class prompts through encodeTexts, which runs only up to the last EOT of the batch
  model.tokenizer = loadClipTokenizer();
  const names = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
  const prompts = names.map((n) => `a photo of a ${n} looking face.`);
  await timeCall(() => model.encodeTexts(prompts));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) times.push(await timeCall(() => model.encodeTexts(prompts)));
  const ms = Math.min(...times);
  rows.push({ what: `${presetName} encodeTexts (7 class prompts, trimmed to the last EOT)`, batch: prompts.length, msPerCall: ms, perSecond: (1000 * prompts.length) / ms });
  log(`encodeTexts, 7 class prompts: ${ms.toFixed(0)} ms per call = ${((1000 * prompts.length) / ms).toFixed(2)} texts/s`);
}

if (json) console.log(JSON.stringify({ device: ctx.adapter.summary, rows }));
model.dispose();
ctx.dispose();
