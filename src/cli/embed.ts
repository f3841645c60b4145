/**
 * `lrdif embed`: CLIP embeddings of images and texts.
 *
 *   lrdif embed --clip <dir|file> [--image <path> ...] [--text <string> ...] [--json]
 *               [--hidden-act quick_gelu|gelu] [--vision-heads N] [--text-heads N]
 *
 * Prints the projected, unnormalised embeddings (what Hugging Face's get_image_features and
 * get_text_features return) and, when both images and texts are given, their cosine
 * similarities and CLIP's zero-shot probabilities (softmax over the texts of
 * exp(logit_scale) · cosine). Loading progress goes to stderr.
 */
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { readImageFile } from '../io/image-node.js';
import type { RgbImage } from '../io/image.js';
import { loadClip } from '../models/clip/load-node.js';
import { parseClipActivation, type ClipActivation } from '../models/clip/config.js';
import type { ClipModel } from '../models/clip/model.js';
import type { Wrap } from './command.js';

export interface EmbedOptions {
  clip: string;
  image: string[];
  text: string[];
  json?: boolean;
  hiddenAct?: string;
  visionHeads?: number;
  textHeads?: number;
}

export interface EmbedResult {
  model: { file?: string; layout: string; config: string; projectionDim: number; imageSize: number; logitScale: number };
  images: Array<{ path: string; embedding: number[] }>;
  texts: Array<{ text: string; embedding: number[] }>;
  /** [image][text] cosine similarities (both given). */
  similarity?: number[][];
  /** [image][text] softmax over texts of exp(logit_scale) · cosine. */
  probabilities?: number[][];
}

function rows(data: Float32Array, n: number, p: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * p, (i + 1) * p)));
}

function cosine(a: number[], b: number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

function softmaxRow(x: number[]): number[] {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function loadProgress(file: string): (p: { done: number; total: number }) => void {
  const tty = process.stderr.isTTY;
  const mb = (b: number) => (b / 1e6).toFixed(0);
  let lastQuarter = -1;
  return ({ done, total }) => {
    const pct = total ? Math.floor((100 * done) / total) : 100;
    if (tty) {
      process.stderr.write(`\rloading ${file}: ${pct}% (${mb(done)}/${mb(total)} MB)${done === total ? '\n' : ''}`);
    } else if (total > 50e6 && Math.floor(pct / 25) !== lastQuarter) {
      lastQuarter = Math.floor(pct / 25);
      process.stderr.write(`loading ${file}: ${pct}% (${mb(done)}/${mb(total)} MB)\n`);
    }
  };
}

/** Loads the model, embeds, and returns the numbers (the command prints them). */
export async function runEmbed(opts: EmbedOptions): Promise<EmbedResult> {
  if (opts.image.length === 0 && opts.text.length === 0) throw new Error('lrdif: embed: give at least one --image or --text');
  const hiddenAct: ClipActivation | undefined = opts.hiddenAct === undefined ? undefined : parseClipActivation('--hidden-act', opts.hiddenAct);
  // read the images first: a bad path fails before the (possibly large) model loads
  const images: RgbImage[] = opts.image.map((p) => readImageFile(p));
  const ctx = await initNode();
  let model: ClipModel | null = null;
  try {
    model = await loadClip(opts.clip, {
      hiddenAct,
      visionHeads: opts.visionHeads,
      textHeads: opts.textHeads,
      onProgress: loadProgress(opts.clip),
    });
    const P = model.config.projectionDim;
    const result: EmbedResult = {
      model: {
        file: model.loadInfo?.file,
        layout: model.loadInfo?.layout ?? 'unknown',
        config: model.loadInfo?.config ?? 'unknown',
        projectionDim: P,
        imageSize: model.config.vision.imageSize,
        logitScale: await model.logit_scale.item(),
      },
      images: [],
      texts: [],
    };
    if (images.length) {
      const e = model.encodeImages(images);
      const data = (await e.data()) as Float32Array;
      e.dispose();
      result.images = rows(data, images.length, P).map((embedding, i) => ({ path: opts.image[i], embedding }));
    }
    if (opts.text.length) {
      const e = model.encodeTexts(opts.text);
      const data = (await e.data()) as Float32Array;
      e.dispose();
      result.texts = rows(data, opts.text.length, P).map((embedding, i) => ({ text: opts.text[i], embedding }));
    }
    if (images.length && opts.text.length) {
      const scale = Math.exp(result.model.logitScale);
      result.similarity = result.images.map((im) => result.texts.map((t) => cosine(im.embedding, t.embedding)));
      result.probabilities = result.similarity.map((row) => softmaxRow(row.map((c) => scale * c)));
    }
    return result;
  } finally {
    model?.dispose();
    ctx.dispose();
  }
}

function fmtVec(v: number[]): string {
  return `[${v.map((x) => x.toFixed(6)).join(', ')}]`;
}

function printText(r: EmbedResult): void {
  const out: string[] = [];
  out.push(`model: ${r.model.file ?? ''} (${r.model.layout} layout, sizes from ${r.model.config}; P = ${r.model.projectionDim}, images ${r.model.imageSize}×${r.model.imageSize})`);
  const norm = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + b * b, 0)).toFixed(4);
  for (const im of r.images) out.push(`image ${im.path} (norm ${norm(im.embedding)}): ${fmtVec(im.embedding)}`);
  for (const t of r.texts) out.push(`text ${JSON.stringify(t.text)} (norm ${norm(t.embedding)}): ${fmtVec(t.embedding)}`);
  if (r.similarity && r.probabilities) {
    const head = r.texts.map((_, j) => `text ${j + 1}`.padStart(10)).join('');
    out.push('', 'cosine similarity (rows: images, columns: texts)', `${''.padEnd(10)}${head}`);
    r.similarity.forEach((row, i) => out.push(`${`image ${i + 1}`.padEnd(10)}${row.map((c) => c.toFixed(4).padStart(10)).join('')}`));
    out.push('', `probabilities (softmax over texts of exp(logit_scale) · cosine, exp(logit_scale) = ${Math.exp(r.model.logitScale).toFixed(2)})`, `${''.padEnd(10)}${head}`);
    r.probabilities.forEach((row, i) => out.push(`${`image ${i + 1}`.padEnd(10)}${row.map((c) => c.toFixed(4).padStart(10)).join('')}`));
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`lrdif: embed: ${what} must be a positive integer, got '${v}'`);
    return n;
  };
}

export function registerEmbed(program: Command, wrap: Wrap): void {
  program
    .command('embed')
    .description('CLIP embeddings (projected, unnormalised) of images and texts, with cosine similarities when both are given')
    .requiredOption('--clip <path>', 'CLIP weights: a folder (config.json + model.safetensors, or OpenCLIP / OpenAI files) or a .safetensors file')
    .option('--image <path>', 'an image (PNG or JPEG); repeat for more', collect, [])
    .option('--text <string>', 'a text; repeat for more', collect, [])
    .option('--json', 'print JSON')
    .option('--hidden-act <act>', 'override the MLP activation: quick_gelu or gelu (files without a config default to quick_gelu)')
    .option('--vision-heads <n>', 'vision attention heads, for files without a config (default width / 64)', positiveInt('--vision-heads'))
    .option('--text-heads <n>', 'text attention heads, for files without a config (default width / 64)', positiveInt('--text-heads'))
    .action(
      wrap(async (opts: EmbedOptions) => {
        const r = await runEmbed(opts);
        if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else printText(r);
      }),
    );
}
