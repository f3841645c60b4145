/**
 * face-api's tiny face detector on a 1920×1280 photo (the package's demo/sample1.jpg) at the
 * default inputSize 416, lrdif vs face-api's own TensorFlow.js code on the same adapter
 * (`@tensorflow/tfjs-backend-webgpu`), in the same run.
 *
 * Two cases:
 * - "photo → boxes": from the decoded 8-bit photo in host memory to the detections (upload,
 *   face-api's pad-to-square + bilinear resize + normalisation, the network, readback of the
 *   [13, 13, 25] output, box decoding and NMS). lrdif: TinyFaceDetector.detect (the photo
 *   uploaded packed, one resampling pass, the fused network). TF.js: face-api's
 *   TinyYolov2Base.forwardInput restated op for op (face-api's bundle cannot be pointed at the
 *   webgpu backend package): tensor3d of the photo (int32, as tf.node.decodeImage gives it),
 *   padToSquare (zeros concatenated after), resizeBilinear, cast, normalize (fill + concat + sub),
 *   /255, runMobilenet (conv2d 'valid' + bias, leaky as relu(x − 0.1x) + 0.1x, maxPool,
 *   depthwiseSeparableConv = pad + separableConv2d 'valid' + bias + leaky), conv8 + bias; the
 *   output read back and decoded by the same host code (decodeTinyFaceDetections) on both sides.
 * - "network": the network alone on a ready [1, 3, 416, 416] input (NHWC [1, 416, 416, 3] for TF.js).
 *
 * Both sides' detections are compared before timing (printed). FLOPs: 2 per multiply-add of
 * the convolutions. `npm run bench -- faceapi-detect`.
 */
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import type * as TfCore from '@tensorflow/tfjs-core';
import { RgbImageBuffer, type Tensor } from '../src/node.js';
import { readImageFile } from '../src/io/image-node.js';
import { decodeTinyFaceDetections, TINY_FACE_DETECTOR_MEAN_RGB, type FaceDetection } from '../src/models/faceapi/index.js';
import { faceApiManifestPath, faceApiModelDir } from '../src/models/faceapi/load-node.js';
import { loadTinyFaceDetector } from '../src/models/faceapi/detect-node.js';
import type { CaseSpec, Harness, Impl, Suite } from './harness.js';

const INPUT = 416;
const FILTERS = [3, 16, 32, 64, 128, 256, 512];

/** Convolution FLOPs of the detector at input side S. */
function detectorFlops(S: number): number {
  let h = S - 2; // conv0 'valid'
  let macs = h * h * 27 * 16;
  h = Math.ceil(h / 2);
  for (let i = 1; i <= 5; i++) {
    const ci = FILTERS[i];
    const co = FILTERS[i + 1];
    macs += h * h * (9 * ci + ci * co);
    if (i < 5) h = Math.ceil(h / 2);
  }
  macs += h * h * 512 * 25;
  return 2 * macs;
}

type TfMap = Record<string, TfCore.Tensor>;

function tfWeights(tf: typeof TfCore): TfMap {
  const manifest = JSON.parse(readFileSync(faceApiManifestPath('tiny_face_detector_model'), 'utf8')) as Array<{ paths: string[]; weights: TfCore.io.WeightsManifestEntry[] }>;
  const map: TfMap = {};
  for (const g of manifest) {
    const bytes = Buffer.concat(g.paths.map((p) => readFileSync(join(faceApiModelDir(), p))));
    Object.assign(map, tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), g.weights));
  }
  return map;
}

/** face-api's leaky (tinyYolov2/leaky.ts). */
function tfLeaky(tf: typeof TfCore, x: TfCore.Tensor4D): TfCore.Tensor4D {
  const min = tf.mul(x, tf.scalar(0.10000000149011612));
  return tf.add(tf.relu(tf.sub(x, min)), min) as TfCore.Tensor4D;
}

/** face-api's runMobilenet for the tiny face detector (conv6/conv7 absent). */
function tfNet(tf: typeof TfCore, x: TfCore.Tensor4D, w: TfMap): TfCore.Tensor4D {
  return tf.tidy(() => {
    const sep = (t: TfCore.Tensor4D, p: string) => {
      let out = tf.pad(t, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]) as TfCore.Tensor4D;
      out = tf.separableConv2d(out, w[`${p}/depthwise_filter`] as TfCore.Tensor4D, w[`${p}/pointwise_filter`] as TfCore.Tensor4D, [1, 1], 'valid');
      return tfLeaky(tf, tf.add(out, w[`${p}/bias`]) as TfCore.Tensor4D);
    };
    let out = tfLeaky(tf, tf.add(tf.conv2d(x, w['conv0/filters'] as TfCore.Tensor4D, [1, 1], 'valid'), w['conv0/bias']) as TfCore.Tensor4D);
    out = tf.maxPool(out, [2, 2], [2, 2], 'same');
    for (let i = 1; i <= 5; i++) {
      out = sep(out, `conv${i}`);
      out = tf.maxPool(out, [2, 2], i === 5 ? [1, 1] : [2, 2], 'same');
    }
    return tf.add(tf.conv2d(out, w['conv8/filters'] as TfCore.Tensor4D, [1, 1], 'valid'), w['conv8/bias']) as TfCore.Tensor4D;
  });
}

/** face-api's toBatchTensor(inputSize, false) + normalize + /255 of an image tensor [H, W, 3]. */
function tfInput(tf: typeof TfCore, img: TfCore.Tensor3D, inputSize: number): TfCore.Tensor4D {
  return tf.tidy(() => {
    let t = tf.expandDims(img) as TfCore.Tensor4D;
    const [, h, w] = t.shape;
    if (h !== w) {
      const axis = h > w ? 2 : 1;
      const shape = [...t.shape] as [number, number, number, number];
      shape[axis] = Math.abs(h - w);
      t = tf.concat([tf.cast(t, 'float32'), tf.fill(shape, 0, 'float32')], axis) as TfCore.Tensor4D;
    }
    if (t.shape[1] !== inputSize) t = tf.image.resizeBilinear(t, [inputSize, inputSize], false, false);
    let x = tf.cast(t, 'float32') as TfCore.Tensor4D;
    const [r, g, b] = TINY_FACE_DETECTOR_MEAN_RGB;
    const fill = (v: number) => tf.fill([1, inputSize, inputSize, 1], v, 'float32');
    x = tf.sub(x, tf.concat([fill(r), fill(g), fill(b)], 3)) as TfCore.Tensor4D;
    return tf.div(x, 255) as TfCore.Tensor4D;
  });
}

/** NCHW [25, g, g] from TF.js's NHWC [1, g, g, 25]. */
function toNchw(v: Float32Array, g: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let p = 0; p < g * g; p++) for (let c = 0; c < 25; c++) out[c * g * g + p] = v[p * 25 + c];
  return out;
}

function maxBoxDiff(a: FaceDetection[], b: FaceDetection[]): string {
  if (a.length !== b.length) return `different counts: ${a.length} vs ${b.length}`;
  let box = 0;
  let score = 0;
  a.forEach((d, i) => {
    const e = b[i];
    box = Math.max(box, Math.abs(d.box.x - e.box.x), Math.abs(d.box.y - e.box.y), Math.abs(d.box.width - e.box.width), Math.abs(d.box.height - e.box.height));
    score = Math.max(score, Math.abs(d.score - e.score));
  });
  return `${a.length} faces, max |Δbox| ${box.toExponential(2)} px, max |Δscore| ${score.toExponential(2)}`;
}

export const faceapiDetectSuite: Suite = {
  name: 'faceapi-detect',
  description: "face-api's tiny face detector (inputSize 416) on the 1920×1280 demo photo sample1.jpg: photo → boxes, and the network alone, vs face-api's ops on tfjs-webgpu",
  async run(h: Harness) {
    const photo = readImageFile(join(dirname(faceApiModelDir()), 'demo', 'sample1.jpg'));
    const detector = await loadTinyFaceDetector();
    const tf = h.peers.tf;
    const weights = tf ? tfWeights(tf) : null;
    // face-api in Node gets an int32 tensor from tf.node.decodeImage: the host-side conversion is done once
    const photoI32 = Int32Array.from(photo.data);
    const g = INPUT / 32;

    const tfDetect = async (): Promise<FaceDetection[]> => {
      const img = tf!.tensor3d(photoI32, [photo.height, photo.width, 3], 'int32');
      const x = tfInput(tf!, img, INPUT);
      const y = tfNet(tf!, x, weights!);
      const v = (await y.data()) as Float32Array;
      tf!.dispose([img, x, y]);
      return decodeTinyFaceDetections(toNchw(v, g), photo.width, photo.height, { inputSize: INPUT });
    };

    const ours = await detector.detect(photo, { inputSize: INPUT });
    if (tf) console.log(`   photo → boxes, lrdif vs tfjs-webgpu: ${maxBoxDiff(ours, await tfDetect())}`);

    const flops = detectorFlops(INPUT);
    {
      const impl: Impl<Promise<FaceDetection[]>> = {
        run: () => detector.detect(photo, { inputSize: INPUT }),
        finish: async (rs) => {
          await Promise.all(rs);
        },
      };
      const peers: CaseSpec['peers'] = {};
      if (tf && weights) peers['tfjs-webgpu'] = { run: () => tfDetect(), finish: async (rs: Array<Promise<FaceDetection[]>>) => void (await Promise.all(rs)) };
      await h.case({ name: 'tiny face detector: photo → boxes', shape: `${photo.width}×${photo.height} → ${INPUT}²`, flops, ours: impl, peers, samples: 9 });
    }

    // the network alone on a ready input
    const buf = RgbImageBuffer.upload([photo]);
    const x = detector.input(buf, INPUT);
    buf.dispose();
    const xData = (await x.data()) as Float32Array;
    const nhwc = new Float32Array(xData.length);
    for (let c = 0; c < 3; c++) for (let p = 0; p < INPUT * INPUT; p++) nhwc[p * 3 + c] = xData[c * INPUT * INPUT + p];
    const xt = tf ? tf.tensor4d(nhwc, [1, INPUT, INPUT, 3]) : null;
    try {
      const impl: Impl<Tensor> = {
        run: () => detector.forward(x),
        finish: async (rs) => {
          await rs[rs.length - 1].data();
          for (const r of rs) r.dispose();
        },
      };
      const peers: CaseSpec['peers'] = {};
      if (tf && weights && xt) {
        const a = detector.forward(x);
        const b = tfNet(tf, xt, weights);
        const va = await a.data();
        const vb = toNchw((await b.data()) as Float32Array, g);
        let d = 0;
        for (let i = 0; i < va.length; i++) d = Math.max(d, Math.abs(va[i] - vb[i]));
        console.log(`   network output, lrdif vs tfjs-webgpu: max |diff| ${d.toExponential(2)}`);
        a.dispose();
        b.dispose();
        peers['tfjs-webgpu'] = {
          run: () => tfNet(tf, xt, weights),
          finish: async (rs: TfCore.Tensor4D[]) => {
            await rs[rs.length - 1].data();
            tf.dispose(rs);
          },
          gpuMs: async () => {
            const info = await tf.time(() => tf.dispose(tfNet(tf, xt, weights)));
            return typeof info.kernelMs === 'number' ? info.kernelMs : null;
          },
        };
      }
      await h.case({ name: 'tiny face detector: network', shape: `[1, 3, ${INPUT}, ${INPUT}]`, flops, ours: impl, peers, samples: 9 });
      for (const name of ['tiny face detector: photo → boxes', 'tiny face detector: network']) {
        const row = h.rows.filter((r) => r.name === name).pop();
        if (row)
          console.log(
            `   ${name}: lrdif ${row.ours_wall_ms.toFixed(1)} ms (wall median)${row.peer_ms ? `, tfjs-webgpu ${row.peer_ms.toFixed(1)} ms, ratio ${row.ratio?.toFixed(2)}× (> 1: lrdif faster)` : ''}`,
          );
      }
    } finally {
      x.dispose();
      xt?.dispose();
      detector.dispose();
      if (tf && weights) tf.dispose(Object.values(weights));
    }
  },
};
