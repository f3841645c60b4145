/**
 * face-api landmark features: LRDif's frozen landmark feature taps (the FaceFeatureExtractor of
 * face_landmark_68_model, dense blocks 1–4, the outputs of blocks 2, 3 and 4 returned) for
 * 112×112 faces at batch 1 and 64, lrdif vs TensorFlow.js on the same adapter
 * (`@tensorflow/tfjs-backend-webgpu`).
 *
 * The TF.js side is face-api's own forward pass (FaceFeatureExtractor.forwardInput /
 * denseBlock4: normalize, conv2d 'same' + bias, separableConv2d 'same' + bias, add, relu — the
 * same ops in the same order, NHWC as face-api runs them) with the same weights decoded by
 * tf.io.decodeWeights; face-api's bundle cannot be pointed at the webgpu backend package, so its
 * code is restated here op for op. Both sides take the batch already at 112×112 (0..1 for lrdif,
 * 0..255 for face-api's normalisation) and return the three taps.
 *
 * lrdif runs its default path: the fused inference passes, 4 faces at a time on CPU adapters
 * (32 on GPUs); TF.js runs the whole batch as one tensor, as face-api does. Before timing, each
 * batch size checks that both sides compute the same 7² tap (printed max |diff|).
 *
 * FLOPs: 2 per multiply-add of the convolutions (conv0 3×3×3→32, then per separable conv
 * 9·C + C·O per output pixel). `npm run bench -- faceapi`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as TfCore from '@tensorflow/tfjs-core';
import { tensor, type Tensor } from '../src/node.js';
import { FaceLandmarkFeatures, FACEAPI_MEAN_RGB } from '../src/models/faceapi/index.js';
import { faceApiManifestPath, faceApiModelDir, readTfjsWeights } from '../src/models/faceapi/load-node.js';
import type { CaseSpec, Harness, Impl, Suite } from './harness.js';

const CHANNELS = [32, 64, 128, 256];

/** Convolution FLOPs of the four dense blocks for one 112×112 face. */
function extractorFlops(): number {
  let flops = 0;
  let size = 112;
  let ci = 3;
  CHANNELS.forEach((co, b) => {
    size = Math.ceil(size / 2);
    const px = size * size;
    flops += b === 0 ? px * 27 * co : px * (9 * ci + ci * co); // conv0
    flops += 3 * px * (9 * co + co * co); // conv1..conv3
    ci = co;
  });
  return 2 * flops;
}

function facesData(n: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n * 3 * 112 * 112);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296;
  }
  return out;
}

interface TfSep {
  depthwise: TfCore.Tensor4D;
  pointwise: TfCore.Tensor4D;
  bias: TfCore.Tensor1D;
}
interface TfBlock {
  conv0: { filters: TfCore.Tensor4D; bias: TfCore.Tensor1D } | TfSep;
  convs: TfSep[];
}

/** face-api's FaceFeatureExtractor params from the manifest, decoded by TF.js itself. */
function tfParams(tf: typeof TfCore): { blocks: TfBlock[]; all: TfCore.Tensor[] } {
  const manifest = JSON.parse(readFileSync(faceApiManifestPath('face_landmark_68_model'), 'utf8')) as Array<{ paths: string[]; weights: TfCore.io.WeightsManifestEntry[] }>;
  const map: TfCore.NamedTensorMap = {};
  for (const g of manifest) {
    const bytes = Buffer.concat(g.paths.map((p) => readFileSync(join(faceApiModelDir(), p))));
    Object.assign(map, tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), g.weights));
  }
  const sep = (p: string): TfSep => ({
    depthwise: map[`${p}/depthwise_filter`] as TfCore.Tensor4D,
    pointwise: map[`${p}/pointwise_filter`] as TfCore.Tensor4D,
    bias: map[`${p}/bias`] as TfCore.Tensor1D,
  });
  const blocks = CHANNELS.map((_, b) => ({
    conv0: b === 0 ? { filters: map['dense0/conv0/filters'] as TfCore.Tensor4D, bias: map['dense0/conv0/bias'] as TfCore.Tensor1D } : sep(`dense${b}/conv0`),
    convs: [1, 2, 3].map((i) => sep(`dense${b}/conv${i}`)),
  }));
  return { blocks, all: Object.values(map) };
}

/** face-api's denseBlock4 (src/faceFeatureExtractor/denseBlock.ts) with the peer's tf. */
function tfDenseBlock4(tf: typeof TfCore, x: TfCore.Tensor4D, p: TfBlock, first: boolean): TfCore.Tensor4D {
  const sepConv = (t: TfCore.Tensor4D, s: TfSep, stride: [number, number]) => tf.add(tf.separableConv2d(t, s.depthwise, s.pointwise, stride, 'same'), s.bias) as TfCore.Tensor4D;
  const c0 = p.conv0;
  const out1 = tf.relu(first ? tf.add(tf.conv2d(x, (c0 as { filters: TfCore.Tensor4D }).filters, [2, 2], 'same'), c0.bias) : sepConv(x, c0 as TfSep, [2, 2])) as TfCore.Tensor4D;
  const out2 = sepConv(out1, p.convs[0], [1, 1]);
  const in3 = tf.relu(tf.add(out1, out2)) as TfCore.Tensor4D;
  const out3 = sepConv(in3, p.convs[1], [1, 1]);
  const in4 = tf.relu(tf.add(out1, tf.add(out2, out3))) as TfCore.Tensor4D;
  const out4 = sepConv(in4, p.convs[2], [1, 1]);
  return tf.relu(tf.add(out1, tf.add(out2, tf.add(out3, out4)))) as TfCore.Tensor4D;
}

function tfTaps(tf: typeof TfCore, x255: TfCore.Tensor4D, blocks: TfBlock[], mean: TfCore.Tensor): TfCore.Tensor4D[] {
  return tf.tidy(() => {
    let h = tf.div(tf.sub(x255, mean), 255) as TfCore.Tensor4D;
    const outs: TfCore.Tensor4D[] = [];
    blocks.forEach((b, i) => {
      h = tfDenseBlock4(tf, h, b, i === 0);
      outs.push(h);
    });
    return outs.slice(1);
  });
}

export const faceapiSuite: Suite = {
  name: 'faceapi',
  description: "face-api landmark feature taps (face_landmark_68 FaceFeatureExtractor, 112×112 faces) at batch 1 and 64, vs face-api's forward pass on tfjs-webgpu",
  async run(h: Harness) {
    const features = FaceLandmarkFeatures.fromWeights(await readTfjsWeights(faceApiManifestPath('face_landmark_68_model')));
    const tf = h.peers.tf;
    const params = tf ? tfParams(tf) : null;
    const mean = tf ? tf.tensor1d([...FACEAPI_MEAN_RGB]) : null;
    try {
      for (const B of [1, 64]) {
        const data = facesData(B);
        const x = tensor(data, [B, 3, 112, 112]);
        const ours: Impl<Tensor[]> = {
          run: () => features.landmarkFeatureTaps(x),
          finish: async (rs) => {
            await rs[rs.length - 1][2].data();
            for (const r of rs) for (const t of r) t.dispose();
          },
        };
        const peers: CaseSpec['peers'] = {};
        let xt: TfCore.Tensor4D | null = null;
        if (tf && params && mean) {
          // NHWC, 0..255: what face-api's toBatchTensor hands its extractor
          const nhwc = new Float32Array(data.length);
          for (let n = 0; n < B; n++) for (let c = 0; c < 3; c++) for (let p = 0; p < 112 * 112; p++) nhwc[(n * 112 * 112 + p) * 3 + c] = 255 * data[(n * 3 + c) * 112 * 112 + p];
          const xt4 = tf.tensor4d(nhwc, [B, 112, 112, 3]);
          xt = xt4;
          peers['tfjs-webgpu'] = {
            run: () => tfTaps(tf, xt4, params.blocks, mean),
            finish: async (rs: TfCore.Tensor4D[][]) => {
              await rs[rs.length - 1][2].data();
              for (const r of rs) tf.dispose(r);
            },
            gpuMs: async () => {
              const info = await tf.time(() => tf.dispose(tfTaps(tf, xt4, params.blocks, mean)));
              return typeof info.kernelMs === 'number' ? info.kernelMs : null;
            },
          };
        }
        if (tf && xt && params && mean) {
          // like for like: both sides compute the same 7² tap (NHWC there, NCHW here)
          const [, , a7] = features.landmarkFeatureTaps(x);
          const b = tfTaps(tf, xt, params.blocks, mean);
          const va = await a7.data();
          const vb = await b[2].data();
          a7.dispose();
          tf.dispose(b);
          let diff = 0;
          let max = 0;
          for (let n = 0; n < B; n++)
            for (let c = 0; c < 256; c++)
              for (let p = 0; p < 49; p++) {
                const ours7 = va[(n * 256 + c) * 49 + p];
                diff = Math.max(diff, Math.abs(ours7 - vb[(n * 49 + p) * 256 + c]));
                max = Math.max(max, Math.abs(ours7));
              }
          console.log(`   batch ${B}: 7² tap, lrdif vs tfjs-webgpu: max |diff| ${diff.toExponential(2)} (max |value| ${max.toFixed(3)})`);
        }
        try {
          await h.case({ name: 'faceapi landmark taps', shape: `${B} × 112² faces`, flops: B * extractorFlops(), ours, peers, samples: B > 1 ? 5 : 9 });
          const row = h.rows.filter((r) => r.name === 'faceapi landmark taps').pop();
          if (row)
            console.log(
              `   batch ${B}: ${((1000 * B) / row.ours_wall_ms).toFixed(1)} faces/s lrdif${row.peer_ms ? `, ${((1000 * B) / row.peer_ms).toFixed(1)} faces/s tfjs-webgpu` : ''} (wall)`,
            );
        } finally {
          x.dispose();
          xt?.dispose();
        }
      }
    } finally {
      features.dispose();
      if (tf && params) tf.dispose(params.all);
      mean?.dispose();
    }
  },
};
