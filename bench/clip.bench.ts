/**
 * CLIP encoders at ViT-B/32 size with random weights (the speed does not depend on the values):
 * the image encoder on preprocessed [N, 3, 224, 224] pixels at batch 1 and 32 (images/s =
 * N / per-op seconds, printed after each case), the text encoder on 8 full 77-token rows, and
 * encodeTexts on LRDif's seven class prompts (which runs only up to the last EOT). No peer
 * library has CLIP. FLOPs count the matmuls (2 per multiply-add). `npm run bench -- clip`.
 */
import { tensor, type Tensor } from '../src/node.js';
import { ClipModel, CLIP_PRESETS, clipVisionTokens, type ClipConfig } from '../src/models/clip/index.js';
import { loadClipTokenizer } from '../src/models/clip/tokenizer-node.js';
import type { Harness, Impl, Suite } from './harness.js';

/** Matmul FLOPs of one transformer block over L tokens of width W (MLP M, projections and attention). */
function blockFlops(L: number, W: number, M: number): number {
  return 2 * (4 * L * W * W + 2 * L * L * W + 2 * L * W * M);
}

function imageFlops(c: ClipConfig): number {
  const v = c.vision;
  const T = clipVisionTokens(v);
  const patches = T - 1;
  return 2 * patches * 3 * v.patchSize * v.patchSize * v.width + v.layers * blockFlops(T, v.width, v.mlpDim) + 2 * v.width * c.projectionDim;
}

function textFlops(c: ClipConfig, L: number): number {
  const t = c.text;
  return t.layers * blockFlops(L, t.width, t.mlpDim) + 2 * t.width * c.projectionDim;
}

function impl(run: () => Tensor): Impl<Tensor> {
  return {
    run,
    finish: async (rs) => {
      await rs[rs.length - 1].data();
      for (const r of rs) r.dispose();
    },
  };
}

function perSecond(h: Harness, n: number, what: string): void {
  const row = h.rows[h.rows.length - 1];
  console.log(`   ${row.name} ${row.shape}: ${((1000 * n) / row.ours_wall_ms).toFixed(2)} ${what}/s (wall)`);
}

export const clipSuite: Suite = {
  name: 'clip',
  description: 'CLIP ViT-B/32 (random weights): image encoder at batch 1 and 32, text encoder (77 tokens, and LRDif prompts trimmed to the last EOT)',
  async run(h) {
    const config = CLIP_PRESETS['ViT-B/32'];
    const model = new ClipModel(config, { init: 'random', seed: 1, tokenizer: loadClipTokenizer() });
    try {
      const S = config.vision.imageSize;
      for (const B of [1, 32]) {
        const px = tensor(
          new Float32Array(B * 3 * S * S).map((_, i) => Math.sin(i * 0.0137)),
          [B, 3, S, S],
        );
        try {
          await h.case({
            name: 'clip image encoder',
            shape: `ViT-B/32, batch ${B}`,
            flops: B * imageFlops(config),
            ours: impl(() => model.encodeImage(px)),
            samples: B > 1 ? 3 : 7,
          });
          perSecond(h, B, 'images');
        } finally {
          px.dispose();
        }
      }
      const B = 8;
      const ids = new Int32Array(B * 77);
      for (let i = 0; i < B; i++) {
        ids[i * 77] = 49406;
        for (let j = 1; j <= 10 + i; j++) ids[i * 77 + j] = 320 + 17 * j + i;
        ids[i * 77 + 11 + i] = 49407;
      }
      const t = tensor(ids, [B, 77], 'i32');
      try {
        await h.case({ name: 'clip text encoder', shape: `ViT-B/32, ${B} × 77 tokens`, flops: B * textFlops(config, 77), ours: impl(() => model.encodeText(t)), samples: 3 });
        perSecond(h, B, 'texts');
      } finally {
        t.dispose();
      }
      const prompts = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'].map((n) => `a photo of a ${n} looking face.`);
      const L = 1 + Math.max(...prompts.map((_, i) => model.poolPosition(model.tokenize(prompts).subarray(i * 77, (i + 1) * 77))));
      await h.case({
        name: 'clip encodeTexts',
        shape: `ViT-B/32, ${prompts.length} class prompts (${L} tokens run)`,
        flops: prompts.length * textFlops(config, L),
        ours: impl(() => model.encodeTexts(prompts)),
      });
      perSecond(h, prompts.length, 'texts');
    } finally {
      model.dispose();
    }
  },
};
