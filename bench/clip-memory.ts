/**
 * Peak host memory while loading a large CLIP file: `npx tsx bench/clip-memory.ts [--keep]
 * [--file /tmp/lrdif-clip-vitb16.safetensors]`.
 *
 * Writes a random ViT-B/16-sized CLIP (Hugging Face layout, F32, about 600 MB) to /tmp (removed
 * afterwards unless --keep; an existing file is reused), then loads it with `loadClip` in a child
 * process and reports the child's peak resident memory (process.resourceUsage().maxRSS) next
 * to the file size, and the resident memory before loading (Node + the WebGPU device). On a
 * CPU adapter (lavapipe) GPU buffers live in host memory, so the loaded model itself counts.
 */
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLIP_PRESETS, ClipModel, clipConfigToHuggingFace, clipVisionTokens } from '../src/models/clip/index.js';

const HERE = fileURLToPath(import.meta.url);

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Tensor names and shapes of a CLIPModel state dict (Hugging Face naming) for a config. */
function hfShapes(): Array<[string, number[]]> {
  const c = CLIP_PRESETS['ViT-B/16'];
  const out: Array<[string, number[]]> = [];
  const W = c.vision.width;
  const Wt = c.text.width;
  const tower = (prefix: string, w: number, layers: number, mlp: number) => {
    for (let i = 0; i < layers; i++) {
      const b = `${prefix}.encoder.layers.${i}`;
      out.push([`${b}.layer_norm1.weight`, [w]], [`${b}.layer_norm1.bias`, [w]]);
      for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) out.push([`${b}.self_attn.${p}.weight`, [w, w]], [`${b}.self_attn.${p}.bias`, [w]]);
      out.push([`${b}.layer_norm2.weight`, [w]], [`${b}.layer_norm2.bias`, [w]]);
      out.push([`${b}.mlp.fc1.weight`, [mlp, w]], [`${b}.mlp.fc1.bias`, [mlp]], [`${b}.mlp.fc2.weight`, [w, mlp]], [`${b}.mlp.fc2.bias`, [w]]);
    }
  };
  out.push(['vision_model.embeddings.class_embedding', [W]]);
  out.push(['vision_model.embeddings.patch_embedding.weight', [W, 3, c.vision.patchSize, c.vision.patchSize]]);
  out.push(['vision_model.embeddings.position_embedding.weight', [clipVisionTokens(c.vision), W]]);
  out.push(['vision_model.pre_layrnorm.weight', [W]], ['vision_model.pre_layrnorm.bias', [W]]);
  tower('vision_model', W, c.vision.layers, c.vision.mlpDim);
  out.push(['vision_model.post_layernorm.weight', [W]], ['vision_model.post_layernorm.bias', [W]]);
  out.push(['text_model.embeddings.token_embedding.weight', [c.text.vocabSize, Wt]]);
  out.push(['text_model.embeddings.position_embedding.weight', [c.text.contextLength, Wt]]);
  tower('text_model', Wt, c.text.layers, c.text.mlpDim);
  out.push(['text_model.final_layer_norm.weight', [Wt]], ['text_model.final_layer_norm.bias', [Wt]]);
  out.push(['visual_projection.weight', [c.projectionDim, W]], ['text_projection.weight', [c.projectionDim, Wt]], ['logit_scale', []]);
  return out;
}

/** Streams a random F32 safetensors file (never more than one 4 MiB block in memory). */
function writeFile(file: string): void {
  const shapes = hfShapes();
  const header: Record<string, unknown> = {};
  let pos = 0;
  for (const [name, shape] of shapes) {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape, data_offsets: [pos, pos + bytes] };
    pos += bytes;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const fd = fs.openSync(`${file}.tmp`, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  fs.writeSync(fd, len);
  fs.writeSync(fd, text);
  const block = new Float32Array(1 << 20);
  let s = 12345;
  for (let i = 0; i < block.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    block[i] = (s / 2 ** 32 - 0.5) * 0.04;
  }
  const bytes = new Uint8Array(block.buffer);
  for (let left = pos; left > 0; left -= Math.min(left, bytes.length)) fs.writeSync(fd, bytes, 0, Math.min(left, bytes.length));
  fs.closeSync(fd);
  fs.renameSync(`${file}.tmp`, file);
  fs.writeFileSync(file.replace(/\.safetensors$/, '.config.json'), JSON.stringify(clipConfigToHuggingFace(CLIP_PRESETS['ViT-B/16'])));
}

async function child(file: string): Promise<void> {
  const { initNode } = await import('../src/node.js');
  const { loadClip } = await import('../src/models/clip/load-node.js');
  const ctx = await initNode();
  const baseline = process.memoryUsage().rss;
  const baselineMax = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  const model: ClipModel = await loadClip(file, { tokenizer: null });
  const seconds = (performance.now() - t0) / 1000;
  const params = model.parameters().reduce((n, p) => n + p.size, 0);
  const peak = process.resourceUsage().maxRSS * 1024;
  const after = process.memoryUsage().rss;
  model.dispose();
  ctx.dispose();
  process.stdout.write(`${JSON.stringify({ baseline, baselineMax, peak, after, seconds, params, layout: model.loadInfo?.layout, config: model.loadInfo?.config })}\n`);
}

async function main(): Promise<void> {
  const file = arg('file', '/tmp/lrdif-clip-vitb16.safetensors');
  if (process.argv.includes('--child')) return child(file);
  if (!fs.existsSync(file)) {
    const t0 = performance.now();
    writeFile(file);
    console.log(`wrote ${file} (${mb(fs.statSync(file).size)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  // the config must sit beside the file as config.json for loadClip: use a folder of links
  const dir = fs.mkdtempSync('/tmp/lrdif-clip-mem-');
  fs.symlinkSync(file, `${dir}/model.safetensors`);
  fs.copyFileSync(file.replace(/\.safetensors$/, '.config.json'), `${dir}/config.json`);
  const size = fs.statSync(file).size;
  const r = spawnSync(process.execPath, ['--import', 'tsx', HERE, '--child', '--file', `${dir}/model.safetensors`], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    maxBuffer: 1 << 20,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`the loading process failed (${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  const m = JSON.parse(line) as { baseline: number; baselineMax: number; peak: number; after: number; seconds: number; params: number; layout: string; config: string };
  console.log(`file: ${mb(size)} (${m.params.toLocaleString('en')} parameters, ${m.layout} layout, sizes from ${m.config})`);
  console.log(`loaded in ${m.seconds.toFixed(1)} s`);
  console.log(`resident before loading (Node + device): ${mb(m.baseline)}`);
  console.log(
    `peak resident while loading: ${mb(m.peak)} = ${(m.peak / size).toFixed(2)} × the file (growth over the baseline ${mb(m.peak - m.baseline)} = ${((m.peak - m.baseline) / size).toFixed(2)} × the file)`,
  );
  console.log(`resident after loading: ${mb(m.after)}`);
  if (!process.argv.includes('--keep')) {
    fs.rmSync(file, { force: true });
    fs.rmSync(file.replace(/\.safetensors$/, '.config.json'), { force: true });
  }
}

await main();
