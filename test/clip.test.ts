/**
 * CLIP encoders against an independent float64 PyTorch implementation of CLIP's forward pass
 * (test/golden/make_clip_fixtures.py → test/golden/fixtures/clip-tiny/): tiny random models in
 * Hugging Face naming (QuickGELU + first-EOT pooling; GELU + legacy argmax pooling), the same
 * weights in the OpenAI/OpenCLIP layout, F16/BF16 copies, a config-less OpenAI file whose sizes
 * are inferred; the chunked token table and batch chunking; a ViT-B/32-sized random model
 * (shapes); the sizes of B/32, B/16 and L/14 files inferred from their shapes; load errors.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/ref.js';
import { tensor, noGrad, type Tensor, type GpuContext } from '../src/node.js';
import { readImageFile } from '../src/io/image-node.js';
import type { RgbImage } from '../src/io/image.js';
import { SafetensorsReader, serializeSafetensors, type SafetensorsEntry, type TensorInfo } from '../src/io/safetensors.js';
import { openSafetensorsFile } from '../src/io/safetensors-node.js';
import {
  ClipModel,
  ClipEmbeddingTable,
  CLIP_PRESETS,
  ClipLoadError,
  clipConfigFromHuggingFace,
  clipConfigToHuggingFace,
  clipTensorSource,
  inferClipConfig,
  loadClipFromReader,
  clipTableRowsPerChunk,
  clipVisionTokens,
  type ClipConfig,
} from '../src/models/clip/index.js';
import { loadClip } from '../src/models/clip/load-node.js';
import { loadClipTokenizer } from '../src/models/clip/tokenizer-node.js';
import { runNode } from './helpers/child.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIX = path.join(HERE, 'golden', 'fixtures', 'clip-tiny');
const BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));

interface RefModel {
  image: number[][];
  text: number[][];
  logit_scale: number;
  projection_dim: number;
}
const ref = JSON.parse(fs.readFileSync(path.join(FIX, 'reference.json'), 'utf8')) as {
  texts: string[];
  ids: number[][];
  images: string[];
  context: number;
  vocab_size: number;
  sot: number;
  eot: number;
  models: Record<string, RefModel>;
};

let ctx: GpuContext;
let images: RgbImage[];

beforeAll(async () => {
  ctx = await gpu();
  images = ref.images.map((n) => readImageFile(path.join(FIX, n)));
});

async function host(t: Tensor): Promise<Float32Array> {
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

const flat = (rows: number[][]) => rows.flat();

/** Image and text embeddings of a loaded model for the fixture's images and texts. */
async function embed(model: ClipModel): Promise<{ image: Float32Array; text: Float32Array }> {
  const image = await host(model.encodeImages(images));
  const text = await host(model.encodeTexts(ref.texts));
  return { image, text };
}

async function expectMatches(model: ClipModel, r: RefModel, tol = 1e-4, what = ''): Promise<void> {
  const e = await embed(model);
  expect(model.config.projectionDim).toBe(r.projection_dim);
  expectClose(e.image, flat(r.image), tol, tol, `${what} image embeddings`);
  expectClose(e.text, flat(r.text), tol, tol, `${what} text embeddings`);
  expect(await model.logit_scale.item()).toBeCloseTo(r.logit_scale, 5);
}

function liveBuffers(): number {
  return ctx.stats().liveBuffers;
}

describe('CLIP vs the PyTorch reference (tiny random models)', () => {
  it('Hugging Face layout, QuickGELU, pooled at the first EOT: tokens and embeddings', async () => {
    const model = await loadClip(path.join(FIX, 'hf-quickgelu'));
    expect(model.loadInfo).toMatchObject({ layout: 'huggingface', config: 'config.json' });
    // the int64 position_ids buffers are present and ignored
    expect(model.loadInfo!.ignored.sort()).toEqual(['text_model.embeddings.position_ids', 'vision_model.embeddings.position_ids']);
    expect(model.config.text).toMatchObject({ pooling: 'eot', eotTokenId: ref.eot, contextLength: ref.context, vocabSize: ref.vocab_size, act: 'quick_gelu' });
    expect(model.config.vision).toMatchObject({ imageSize: 32, patchSize: 8, width: 32, layers: 2, heads: 2, mlpDim: 37 });
    // the folder's vocab.json + merges.txt give the reference's ids
    expect(Array.from(model.tokenize(ref.texts))).toEqual(ref.ids.flat());
    // encodeTexts runs only up to the last pooling position (the first EOT here)
    expect(ref.ids.map((r) => model.poolPosition(r))).toEqual(ref.ids.map((r) => r.indexOf(ref.eot)));
    await expectMatches(model, ref.models['hf-quickgelu']);
    // encodeText on ids and on a shorter context agree with encodeTexts / the reference
    const ids = tensor(Int32Array.from(ref.ids.flat()), [ref.ids.length, ref.context], 'i32');
    expectClose(await host(model.encodeText(ids)), flat(ref.models['hf-quickgelu'].text), 1e-4, 1e-4, 'encodeText');
    ids.dispose();
    const short = tensor(Int32Array.from(ref.ids.slice(0, 2).flatMap((r) => r.slice(0, 12))), [2, 12], 'i32');
    expectClose(await host(model.encodeText(short)), flat(ref.models['hf-quickgelu'].text.slice(0, 2)), 1e-4, 1e-4, 'encodeText, 12 tokens');
    short.dispose();
    model.dispose();
  });

  it('Hugging Face layout, exact GELU, legacy eos_token_id 2 (pooled at the highest id)', async () => {
    const model = await loadClip(path.join(FIX, 'hf-gelu'));
    expect(model.config.text).toMatchObject({ pooling: 'argmax', act: 'gelu' });
    expect(model.config.vision.act).toBe('gelu');
    expect(ref.ids.map((r) => model.poolPosition(r))).toEqual(ref.ids.map((r) => r.indexOf(Math.max(...r))));
    expect(ref.ids.some((r) => r.indexOf(Math.max(...r)) !== r.indexOf(ref.eot))).toBe(true);
    await expectMatches(model, ref.models['hf-gelu']);
    model.dispose();
  });

  it('the same weights in the OpenAI/OpenCLIP layout give the same embeddings', async () => {
    const model = await loadClip(path.join(FIX, 'openclip'));
    expect(model.loadInfo).toMatchObject({ layout: 'openai', config: 'open_clip_config.json', ignored: [] });
    expect(model.config.vision).toMatchObject({ heads: 2, mlpDim: 37, act: 'gelu' });
    expect(model.config.text).toMatchObject({ heads: 2, mlpDim: 40, pooling: 'argmax' });
    await expectMatches(model, ref.models['hf-gelu'], 1e-4, 'openclip');
    model.dispose();
  });

  it('F16 and BF16 files: equal to the reference of the stored values, and to the F32 model within their precision', async () => {
    for (const [file, key, tol] of [
      ['model-f16.safetensors', 'hf-quickgelu-f16', 5e-3],
      ['model-bf16.safetensors', 'hf-quickgelu-bf16', 3e-2],
    ] as const) {
      // a file path: the config.json beside it gives the sizes
      const model = await loadClip(path.join(FIX, 'hf-quickgelu', file));
      expect(model.loadInfo!.config).toBe('config.json');
      const e = await embed(model);
      expectClose(e.image, flat(ref.models[key].image), 1e-4, 1e-4, `${key} image`);
      expectClose(e.text, flat(ref.models[key].text), 1e-4, 1e-4, `${key} text`);
      expectClose(e.image, flat(ref.models['hf-quickgelu'].image), tol, tol, `${key} image vs F32`);
      expectClose(e.text, flat(ref.models['hf-quickgelu'].text), tol, tol, `${key} text vs F32`);
      model.dispose();
    }
  });

  it('a config-less OpenAI F16 file: every size inferred from the shapes', async () => {
    const model = await loadClip(path.join(FIX, 'openai-inferred'));
    expect(model.loadInfo).toMatchObject({ layout: 'openai', config: 'inferred' });
    expect(model.config).toEqual({
      vision: { imageSize: 32, patchSize: 8, width: 64, layers: 2, heads: 1, mlpDim: 96, act: 'quick_gelu', eps: 1e-5 },
      text: {
        vocabSize: ref.vocab_size,
        contextLength: ref.context,
        width: 64,
        layers: 1,
        heads: 1,
        mlpDim: 80,
        act: 'quick_gelu',
        eps: 1e-5,
        pooling: 'argmax',
        eotTokenId: ref.vocab_size - 1,
      },
      projectionDim: 24,
    } satisfies ClipConfig);
    await expectMatches(model, ref.models['openai-inferred']);
    model.dispose();
  });

  it('a token table split into row chunks (artificially low limit) and batches split into chunks give the same embeddings', async () => {
    const rowBytes = 4 * 24;
    const model = await loadClip(path.join(FIX, 'hf-quickgelu'), { embeddingChunkBytes: 5 * rowBytes, activationBytes: 4 * 17 * 37 });
    const table = model.text_model.embeddings.token_embedding;
    expect(table.chunks.map((c) => c.shape[0])).toEqual([5, 5, 5, 5, 1]);
    expect([...model.stateDict().keys()].filter((k) => k.includes('token_embedding'))).toEqual(
      [0, 1, 2, 3, 4].map((i) => `text_model.embeddings.token_embedding.weight_chunk${i}`),
    );
    await expectMatches(model, ref.models['hf-quickgelu'], 1e-4, 'chunked');
    model.dispose();
  });

  it('loading, encoding (chunked table and batches too) and disposing leave no GPU buffers behind', async () => {
    // after the tests above, so the engine's own one-time buffers (e.g. matmul's dummy bias) exist
    const before = liveBuffers();
    for (const chunks of [undefined, 4 * 24 * 5]) {
      const model = await loadClip(path.join(FIX, 'hf-quickgelu'), { embeddingChunkBytes: chunks, activationBytes: chunks ? 4 * 17 * 37 : undefined });
      await embed(model);
      model.dispose();
    }
    expect(liveBuffers()).toBe(before);
  });
});

describe('safetensors ranged reads (used by the CLIP loader)', () => {
  it('readF32Into gives the same values as getHostArray, slice by slice, for F32, F16 and BF16', () => {
    for (const f of ['model.safetensors', 'model-f16.safetensors', 'model-bf16.safetensors']) {
      const r = openSafetensorsFile(path.join(FIX, 'hf-quickgelu', f));
      const name = 'vision_model.embeddings.patch_embedding.weight';
      const whole = r.getHostArray(name, 'f32');
      const got = new Float32Array(whole.length);
      for (let a = 0; a < whole.length; a += 1000) r.readF32Into(name, a, got.subarray(a, Math.min(whole.length, a + 1000)));
      expect(Array.from(got)).toEqual(Array.from(whole));
      expect(() => r.readF32Into(name, whole.length - 2, new Float32Array(3))).toThrow(/elements \[6142, 6145\) are outside the tensor's 6144/);
      r.close();
    }
  });
});

describe('CLIP embedding table in chunks', () => {
  it('looks up the same rows as one table, zero rows for ids outside the table', async () => {
    await gpu();
    const rows = 23;
    const dim = 6;
    const values = Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(i * 0.37) + i / 100);
    const one = new ClipEmbeddingTable(rows, dim, 'empty', { ctx });
    const split = new ClipEmbeddingTable(rows, dim, 'empty', { ctx, maxChunkBytes: 4 * 4 * dim }); // 4 rows a chunk
    expect(split.chunks.length).toBe(6);
    one.upload(values);
    split.upload(values);
    const ids = tensor(Int32Array.from([0, 3, 4, 22, 7, -1, 23, 100, 19, 8, 12, 4]), [3, 4], 'i32');
    const a = await host(noGrad(() => one.forward(ids)));
    const b = await host(noGrad(() => split.forward(ids)));
    const expected: number[] = [];
    for (const id of [0, 3, 4, 22, 7, -1, 23, 100, 19, 8, 12, 4]) {
      for (let k = 0; k < dim; k++) expected.push(id >= 0 && id < rows ? values[id * dim + k] : 0);
    }
    expect(Array.from(a)).toEqual(expected.map(Math.fround));
    expect(Array.from(b)).toEqual(expected.map(Math.fround));
    expect(() => split.weight).toThrow(/6 chunks/);
    ids.dispose();
    one.dispose();
    split.dispose();
  });

  it('ViT-L/14’s token table [49408, 768] f32 needs two chunks under a 128 MiB binding', () => {
    expect(clipTableRowsPerChunk(768, 128 * 2 ** 20)).toBeLessThan(49408);
    expect(Math.ceil(49408 / clipTableRowsPerChunk(768, 128 * 2 ** 20))).toBe(2);
    expect(clipTableRowsPerChunk(512, 128 * 2 ** 20)).toBeGreaterThanOrEqual(49408);
    expect(() => clipTableRowsPerChunk(768, 1000)).toThrow(/one row of 768 f32 values/);
  });
});

/** The tensor names and shapes of a preset in a layout, as a TensorShapes stand-in for a file header. */
function presetShapes(c: ClipConfig, layout: 'huggingface' | 'openai'): { names(): string[]; info(n: string): TensorInfo } {
  const m = new Map<string, number[]>();
  const W = c.vision.width;
  const Wt = c.text.width;
  const add = (name: string, shape: number[]) => {
    const s = clipTensorSource(layout, name, shape);
    m.set(s.key, s.fileShape);
  };
  add('vision_model.embeddings.patch_embedding.weight', [W, 3, c.vision.patchSize, c.vision.patchSize]);
  add('vision_model.embeddings.position_embedding.weight', [clipVisionTokens(c.vision), W]);
  add('text_model.embeddings.token_embedding.weight', [c.text.vocabSize, Wt]);
  add('text_model.embeddings.position_embedding.weight', [c.text.contextLength, Wt]);
  add('visual_projection.weight', [c.projectionDim, W]);
  for (let i = 0; i < c.vision.layers; i++) add(`vision_model.encoder.layers.${i}.mlp.fc1.weight`, [c.vision.mlpDim, W]);
  for (let i = 0; i < c.text.layers; i++) add(`text_model.encoder.layers.${i}.mlp.fc1.weight`, [c.text.mlpDim, Wt]);
  return { names: () => [...m.keys()], info: (n) => ({ dtype: 'F16', shape: m.get(n)!, byteLength: 0 }) };
}

describe('CLIP sizes', () => {
  it('ViT-B/32, B/16 and L/14 sizes are inferred from OpenAI- and Hugging-Face-layout shapes', () => {
    for (const name of ['ViT-B/32', 'ViT-B/16', 'ViT-L/14', 'ViT-L/14@336px'] as const) {
      const preset = CLIP_PRESETS[name];
      for (const layout of ['openai', 'huggingface'] as const) {
        const c = inferClipConfig(presetShapes(preset, layout), layout);
        expect(c, `${name} ${layout}`).toEqual({ ...preset, text: { ...preset.text, pooling: 'argmax', eotTokenId: 49407 } });
      }
    }
  });

  it('Hugging Face config.json: defaults, the old *_config_dict keys, legacy eos id, round trip', () => {
    const b32 = CLIP_PRESETS['ViT-B/32'];
    expect(clipConfigFromHuggingFace({ model_type: 'clip', text_config: {}, vision_config: {} })).toEqual(b32);
    const old = clipConfigFromHuggingFace({ text_config: { eos_token_id: 2 }, vision_config_dict: { patch_size: 16, hidden_act: 'gelu' }, projection_dim: 512 });
    expect(old.text.pooling).toBe('argmax');
    expect(old.vision).toMatchObject({ patchSize: 16, act: 'gelu' });
    for (const c of Object.values(CLIP_PRESETS)) expect(clipConfigFromHuggingFace(clipConfigToHuggingFace(c))).toEqual(c);
    expect(() => clipConfigFromHuggingFace({ model_type: 'siglip', text_config: {} })).toThrow(/model_type "siglip"/);
    expect(() => clipConfigFromHuggingFace({ text_config: { hidden_act: 'relu' }, vision_config: {} })).toThrow(/text_config.hidden_act "relu" is not supported/);
    expect(() => clipConfigFromHuggingFace({ vision_config: { hidden_size: 100, num_attention_heads: 12 } })).toThrow(/vision.width 100 is not a multiple of vision.heads 12/);
  });

  it('a ViT-B/32-sized random model (no file): output shapes and parameter shapes', async () => {
    await gpu();
    const before = liveBuffers();
    const model = new ClipModel(CLIP_PRESETS['ViT-B/32'], { init: 'random', seed: 3 });
    const state = model.stateDict();
    expect(state.get('vision_model.embeddings.patch_embedding.weight')!.shape).toEqual([768, 3, 32, 32]);
    expect(state.get('vision_model.embeddings.position_embedding.weight')!.shape).toEqual([50, 768]);
    expect(state.get('vision_model.encoder.layers.11.mlp.fc1.weight')!.shape).toEqual([3072, 768]);
    expect(state.get('text_model.embeddings.token_embedding.weight')!.shape).toEqual([49408, 512]);
    expect(state.get('text_model.encoder.layers.11.self_attn.q_proj.bias')!.shape).toEqual([512]);
    expect(state.get('visual_projection.weight')!.shape).toEqual([512, 768]);
    expect(state.get('text_projection.weight')!.shape).toEqual([512, 512]);
    expect(state.get('logit_scale')!.shape).toEqual([]);
    const params = model.parameters().reduce((n, p) => n + p.size, 0);
    expect(params).toBe(151277313); // openai/clip-vit-base-patch32 (the count transformers reports)
    expect(model.parameters().every((p) => !p.requiresGrad)).toBe(true);
    // two copies of one image: each row of the batch is encoded on its own
    const one = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i / 97));
    const px = tensor(Float32Array.from([...one, ...one]), [2, 3, 224, 224]);
    const img = await host(model.encodeImage(px));
    expect(img.length).toBe(2 * 512);
    expect(img.every(Number.isFinite)).toBe(true);
    expectClose(img.subarray(512), img.subarray(0, 512), 1e-5, 1e-5, 'second copy');
    const ids = tensor(Int32Array.from([49406, 320, 1125, 539, 49407, ...new Array(72).fill(0), 49406, 49407, ...new Array(75).fill(0)]), [2, 77], 'i32');
    const t = model.encodeText(ids);
    expect(t.shape).toEqual([2, 512]);
    const txt = await host(t);
    expect(txt.every(Number.isFinite)).toBe(true);
    expect(Math.max(...txt.subarray(0, 512).map((v, i) => Math.abs(v - txt[512 + i])))).toBeGreaterThan(1e-3); // different texts
    px.dispose();
    ids.dispose();
    model.dispose();
    expect(liveBuffers()).toBe(before);
  });
});

// ------------------------------------------------------------------------------------ errors

/** The hf-quickgelu file's tensors, edited, as an in-memory file. */
function editedFile(edit: (entries: SafetensorsEntry[]) => SafetensorsEntry[]): SafetensorsReader {
  const r = openSafetensorsFile(path.join(FIX, 'hf-quickgelu', 'model.safetensors'));
  const entries: SafetensorsEntry[] = r
    .names()
    .filter((n) => !n.endsWith('position_ids'))
    .map((n) => ({ name: n, dtype: 'F32', shape: r.info(n).shape, data: r.getHostArray(n, 'f32') }));
  r.close();
  return SafetensorsReader.fromBytes(serializeSafetensors(edit(entries)), 'edited.safetensors');
}

const hfConfig = () => ({ kind: 'huggingface' as const, json: JSON.parse(fs.readFileSync(path.join(FIX, 'hf-quickgelu', 'config.json'), 'utf8')), file: 'config.json' });

describe('CLIP load errors', () => {
  it('a missing tensor is named with the shape expected', async () => {
    await gpu();
    const before = liveBuffers();
    const reader = editedFile((e) => e.filter((t) => t.name !== 'text_model.encoder.layers.1.mlp.fc2.weight'));
    await expect(loadClipFromReader(reader, hfConfig())).rejects.toThrow(
      "lrdif: CLIP weights 'edited.safetensors': Hugging Face layout: missing tensor 'text_model.encoder.layers.1.mlp.fc2.weight' (expected shape [24, 40])",
    );
    // OpenAI layout: the fused tensor is named
    const oa = openSafetensorsFile(path.join(FIX, 'openclip', 'open_clip_model.safetensors'));
    const entries: SafetensorsEntry[] = oa
      .names()
      .filter((n) => n !== 'visual.transformer.resblocks.1.attn.in_proj_bias')
      .map((n) => ({ name: n, dtype: 'F32', shape: oa.info(n).shape, data: oa.getHostArray(n, 'f32') }));
    oa.close();
    await expect(loadClipFromReader(SafetensorsReader.fromBytes(serializeSafetensors(entries), 'oa.safetensors'), null, { visionHeads: 2, textHeads: 2 })).rejects.toThrow(
      /missing tensor 'visual\.transformer\.resblocks\.1\.attn\.in_proj_bias' \(expected shape \[96\], for vision_model\.encoder\.layers\.1\.self_attn\.q_proj\.bias\)/,
    );
    expect(liveBuffers()).toBe(before); // the half-built model was freed
  });

  it('a mis-shaped tensor is named with both shapes; a non-float tensor is refused', async () => {
    await gpu();
    const reader = editedFile((e) =>
      e.map((t) =>
        t.name === 'visual_projection.weight' ? { ...t, shape: [32, 16] } : t.name === 'text_model.final_layer_norm.bias' ? { ...t, dtype: 'I32', data: new Int32Array(24) } : t,
      ),
    );
    const err = await loadClipFromReader(reader, hfConfig()).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ClipLoadError);
    expect((err as Error).message).toContain("tensor 'visual_projection.weight' has shape [32, 16], expected [16, 32]");
    expect((err as Error).message).toContain("tensor 'text_model.final_layer_norm.bias' is I32, expected a float type");
  });

  it('unknown layouts, ResNet towers and heads that cannot be inferred are explained', async () => {
    await gpu();
    const other = SafetensorsReader.fromBytes(serializeSafetensors([{ name: 'encoder.conv.weight', dtype: 'F32', shape: [2], data: [1, 2] }]), 'other.safetensors');
    await expect(loadClipFromReader(other, null)).rejects.toThrow(
      /other\.safetensors'.*unknown layout: expected Hugging Face CLIPModel names .* the file has: encoder\.conv\.weight/,
    );
    const rn = SafetensorsReader.fromBytes(serializeSafetensors([{ name: 'visual.layer1.0.conv1.weight', dtype: 'F32', shape: [1], data: [1] }]), 'rn50.safetensors');
    await expect(loadClipFromReader(rn, null)).rejects.toThrow(/ModifiedResNet/);
    // the tiny OpenAI file without its config: width 32 does not follow width / 64
    const oa = openSafetensorsFile(path.join(FIX, 'openclip', 'open_clip_model.safetensors'));
    await expect(loadClipFromReader(oa, null)).rejects.toThrow(/cannot infer the vision tower's number of heads: OpenAI's rule width \/ 64 does not divide width 32/);
    oa.close();
  });

  it('paths, config files and tokenizers that do not fit are errors naming them', async () => {
    await gpu();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-clip-'));
    try {
      await expect(loadClip(path.join(tmp, 'nope'))).rejects.toThrow(/nope.*cannot read/);
      await expect(loadClip(tmp)).rejects.toThrow(/no \.safetensors file/);
      fs.copyFileSync(path.join(FIX, 'hf-quickgelu', 'model.safetensors'), path.join(tmp, 'model.safetensors'));
      fs.writeFileSync(path.join(tmp, 'config.json'), '{ not json');
      await expect(loadClip(tmp)).rejects.toThrow(/config\.json' is not valid JSON/);
      fs.writeFileSync(
        path.join(tmp, 'config.json'),
        JSON.stringify({ model_type: 'clip', text_config: { hidden_size: 24, num_attention_heads: 2, vocab_size: 21, eos_token_id: 10 }, vision_config: {} }),
      );
      // config sizes that do not fit the tensors: the tensors are named with the shapes the config implies
      await expect(loadClip(tmp)).rejects.toThrow(/tensor 'vision_model\.embeddings\.patch_embedding\.weight' has shape \[32, 3, 8, 8\], expected \[768, 3, 32, 32\]/);
      // open_clip_config.json sizes are checked against the weights
      fs.rmSync(path.join(tmp, 'config.json'));
      fs.copyFileSync(path.join(FIX, 'openclip', 'open_clip_model.safetensors'), path.join(tmp, 'model.safetensors'));
      fs.writeFileSync(
        path.join(tmp, 'open_clip_config.json'),
        JSON.stringify({ model_cfg: { embed_dim: 16, vision_cfg: { width: 48, head_width: 16 }, text_cfg: { heads: 2 } } }),
      );
      await expect(loadClip(tmp)).rejects.toThrow(/open_clip_config\.json says vision_cfg\.width = 48, the weights have 32/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    // a tokenizer whose ids are outside the model's vocabulary
    const model = await loadClip(path.join(FIX, 'openai-inferred'), { tokenizer: loadClipTokenizer() });
    expect(() => model.encodeTexts(['a photo of a face'])).toThrow(
      /gives id 49406 for "a photo of a face", outside the model's vocabulary of 21 \(tokenizer and weights do not match\)/,
    );
    const bad = tensor(new Float32Array(3 * 16 * 16), [1, 3, 16, 16]);
    expect(() => model.encodeImage(bad)).toThrow(/pixels must be f32 \[N, 3, 32, 32\].*got tensor \[1, 3, 16, 16\] f32/);
    bad.dispose();
    const long = tensor(new Int32Array(ref.context + 1), [1, ref.context + 1], 'i32');
    expect(() => model.encodeText(long)).toThrow(/ids must be i32 \[N, L\] with 1 ≤ L ≤ 20, got tensor \[1, 21\] i32/);
    long.dispose();
    model.dispose();
  });
});

describe('lrdif embed', () => {
  it('prints the reference embeddings, cosine similarities and probabilities as JSON', async () => {
    const img = (n: string) => path.join(FIX, n);
    const r = await runNode(
      [
        BIN,
        'embed',
        '--clip',
        path.join(FIX, 'hf-quickgelu'),
        '--image',
        img(ref.images[0]),
        '--image',
        img(ref.images[2]),
        '--text',
        ref.texts[0],
        '--text',
        ref.texts[3],
        '--json',
      ],
      { timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      images: Array<{ embedding: number[] }>;
      texts: Array<{ embedding: number[] }>;
      similarity: number[][];
      probabilities: number[][];
      model: { logitScale: number };
    };
    const m = ref.models['hf-quickgelu'];
    expectClose(
      out.images.flatMap((i) => i.embedding),
      [...m.image[0], ...m.image[2]],
      1e-4,
      1e-4,
      'cli images',
    );
    expectClose(
      out.texts.flatMap((t) => t.embedding),
      [...m.text[0], ...m.text[3]],
      1e-4,
      1e-4,
      'cli texts',
    );
    const cos = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0) / Math.hypot(...a) / Math.hypot(...b);
    const want = [0, 2].map((i) => [0, 3].map((j) => cos(m.image[i], m.text[j])));
    expectClose(out.similarity.flat(), want.flat(), 1e-4, 1e-4, 'cli cosine');
    const s = Math.exp(m.logit_scale);
    const probs = want.map((row) => {
      const e = row.map((c) => Math.exp(s * c));
      return e.map((v) => v / (e[0] + e[1]));
    });
    expectClose(out.probabilities.flat(), probs.flat(), 1e-3, 1e-4, 'cli probabilities');
  });

  it('fails with one line naming the missing image', async () => {
    const r = await runNode([BIN, 'embed', '--clip', path.join(FIX, 'hf-quickgelu'), '--image', '/nonexistent/x.png'], { timeout: 120_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/lrdif: error: cannot read image \/nonexistent\/x\.png/);
  });
});
