/**
 * Mini-batches of an ImageDataset on the GPU: seeded shuffling, decoding overlapped with the
 * consumer's GPU work, GPU resizing to size × size (the resize op) and GPU augmentation.
 *
 * - Order: epoch e visits the items in permutation(n, seed, stream e) (src/data/rng.ts), so
 *   the order depends only on (seed, epoch); without shuffling, in dataset order. Batch k holds
 *   the (k·B)-th to ((k+1)·B − 1)-th readable images of that order: unreadable ones are passed
 *   over, not left as holes, so every batch but the last is full, and the batches are the same
 *   whenever (and by whichever run) an image was found unreadable.
 * - Augmentation (random flip + random erasing, src/kernels/augment.ts): the image at position
 *   p of epoch e gets the 44 uniforms of Philox blocks [e·2^32 + 11·p, e·2^32 + 11·(p+1)) of the
 *   augmentation seed (seed + 1), so its augmentation depends only on (seed, epoch, p) — not on
 *   the batch size, on prefetching, or on skipped neighbours.
 * - Prefetch (platform-independent, no worker): while the consumer works on batch k, batch k+1
 *   is read and decoded on the main thread in slices — one image at a time, yielding to the
 *   event loop between images — so the GPU (which runs on its own threads) and the consumer's
 *   awaits on GPU results overlap with the decoding. Uploading, resizing and augmenting happen
 *   when the batch is handed out, so GPU work is issued in program order.
 * - Corrupt or unreadable images are skipped (warned and recorded in dataset.skipped); the
 *   batch takes the next readable images instead. To count what is used up front (a trainer's
 *   steps), give the loader `dataset.usable()` after the images were read once.
 * - Size: an image over MAX_TENSOR_PIXELS (a 12-megapixel photo) is first area-averaged on the
 *   CPU to fit (every adapter binds its f32 tensor), and same-sized images go to the GPU in
 *   groups that fit the device's binding limit (resizing is per image, so grouping changes no value).
 * - Each batch's tensors belong to the caller: call batch.dispose().
 */
import { engine, keep, tidy } from '../autograd/engine.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { imagesToTensor, downscaleImage, fitPixels, MAX_TENSOR_PIXELS, type RgbImage } from '../io/image.js';
import { resize, type ResizeOptions } from '../kernels/resize.js';
import { concat } from '../kernels/layout.js';
import { clamp } from '../kernels/elementwise.js';
import { indexSelect } from '../kernels/indexing.js';
import { Generator, randomUniform } from '../kernels/random.js';
import { applyFlipErase, flipEraseParams, AUGMENT_UNIFORMS, type FlipEraseOptions } from '../kernels/augment.js';
import { permutation } from './rng.js';
import type { ImageDataset } from './datasets/types.js';

export interface DataLoaderOptions {
  batchSize: number;
  /** Output side (default 112). */
  size?: number;
  /** Shuffle every epoch (default true). */
  shuffle?: boolean;
  seed?: number;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Random flip + erasing on the GPU: true for the LRDif defaults, or options (default off). */
  augment?: boolean | FlipEraseOptions;
  /** Decode the next batch while the current one is in use (default true). */
  prefetch?: boolean;
  /** How images are resized (default: bilinear, antialiased: Pillow's BILINEAR); bicubic results are clamped to [0, 1]. */
  resize?: ResizeOptions;
}

export interface Batch {
  /** [B, 3, size, size], values in [0, 1]. */
  images: Tensor;
  /** [B] i32 labels (indices into the dataset's classNames). */
  labels: Tensor;
  /** Dataset item indices, in batch order. */
  indices: number[];
  /** Augmentation parameters [B, 5] i32 (flip, top, left, h, w) when augmenting. */
  augmentParams: Tensor | null;
  epoch: number;
  /** Batch number within the epoch. */
  index: number;
  dispose(): void;
}

interface Decoded {
  /** Positions within the epoch's order and dataset indices of the images that decoded. */
  positions: number[];
  indices: number[];
  images: RgbImage[];
  /** The position after the last one read: where the next batch starts. */
  next: number;
}

const TWO32 = 4294967296;
const BLOCKS_PER_IMAGE = AUGMENT_UNIFORMS / 4;

function yieldToEventLoop(): Promise<void> {
  const si = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (si ? si(resolve) : setTimeout(resolve, 0)));
}

export class DataLoader {
  readonly batchSize: number;
  readonly size: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly prefetch: boolean;
  readonly augment: FlipEraseOptions | null;
  readonly resizeOptions: ResizeOptions;

  constructor(
    readonly dataset: ImageDataset,
    opts: DataLoaderOptions,
  ) {
    const int = (name: string, v: number, min: number) => {
      if (!Number.isInteger(v) || v < min) throw new Error(`lrdif: DataLoader: ${name} must be an integer ≥ ${min}, got ${v}`);
      return v;
    };
    this.batchSize = int('batchSize', opts.batchSize, 1);
    this.size = int('size', opts.size ?? 112, 1);
    this.seed = int('seed', opts.seed ?? 0, 0);
    if (this.seed > Number.MAX_SAFE_INTEGER - 1) throw new Error(`lrdif: DataLoader: seed must be below 2^53 − 1, got ${this.seed}`);
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    this.prefetch = opts.prefetch ?? true;
    this.augment = opts.augment === true ? {} : opts.augment ? opts.augment : null;
    this.resizeOptions = opts.resize ?? { mode: 'bilinear', antialias: true };
    if (dataset.length * BLOCKS_PER_IMAGE > TWO32)
      throw new Error(`lrdif: DataLoader: ${dataset.length} items is more than the augmentation counters allow (${Math.floor(TWO32 / BLOCKS_PER_IMAGE)})`);
  }

  /** Batches per epoch when every image is readable (fewer when some turn out not to be). */
  get numBatches(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The dataset indices of epoch `epoch` in visiting order. */
  order(epoch: number): number[] {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch >= 2 ** 20) throw new Error(`lrdif: DataLoader: epoch must be an integer in [0, 2^20), got ${epoch}`);
    const n = this.dataset.length;
    return this.shuffle ? permutation(n, this.seed, epoch) : Array.from({ length: n }, (_, i) => i);
  }

  /** The next batch from position `start`: reads until batchSize images decoded or the order ends. */
  private async decode(order: number[], start: number): Promise<Decoded> {
    const out: Decoded = { positions: [], indices: [], images: [], next: start };
    let p = start;
    while (p < order.length && out.images.length < this.batchSize) {
      const img = await this.dataset.load(order[p]);
      if (img) {
        out.positions.push(p);
        out.indices.push(order[p]);
        out.images.push(img);
      }
      p++;
      await yieldToEventLoop();
    }
    out.next = p;
    return out;
  }

  /** The batch's images as one [B, 3, s, s] tensor: oversized images reduced on the CPU, uploads grouped to fit a binding. */
  private resized(images: readonly RgbImage[]): Tensor {
    const s = this.size;
    const limit = engine.ctx.limits.maxStorageBufferBindingSize;
    const fitted = images.map((im) => {
      const f = fitPixels(im.width, im.height, MAX_TENSOR_PIXELS);
      return downscaleImage(im, f.width, f.height);
    });
    // runs of same-sized images, each as many as one f32 binding holds
    const groups: RgbImage[][] = [];
    for (const im of fitted) {
      const g = groups[groups.length - 1];
      const fits = g && g[0].width === im.width && g[0].height === im.height && (g.length + 1) * im.width * im.height * 12 <= limit;
      if (fits) g.push(im);
      else groups.push([im]);
    }
    const toSize = (t: Tensor) => (t.shape[2] === s && t.shape[3] === s ? t : resize(t, s, s, this.resizeOptions));
    const parts = groups.map((g) => toSize(imagesToTensor(g)));
    return parts.length === 1 ? parts[0] : concat(parts, 0);
  }

  /** Uploads, resizes and augments one decoded batch (all GPU work of the batch happens here). */
  private assemble(d: Decoded, epoch: number, k: number): Batch {
    const s = this.size;
    const { images, augmentParams } = tidy(() => {
      let resized = this.resized(d.images);
      // bicubic overshoots: keep the documented [0, 1] range
      if (this.resizeOptions.mode === 'bicubic') resized = clamp(resized, 0, 1);
      if (!this.augment) return { images: resized, augmentParams: null };
      const gen = new Generator(this.seed + 1);
      const p0 = d.positions[0];
      const span = d.positions[d.positions.length - 1] - p0 + 1;
      gen.setState({ seed: this.seed + 1, offset: epoch * TWO32 + p0 * BLOCKS_PER_IMAGE });
      let u = randomUniform([span, AUGMENT_UNIFORMS], { generator: gen });
      if (span !== d.positions.length) {
        u = indexSelect(u, 0, tensor(Int32Array.from(d.positions.map((p) => p - p0)), [d.positions.length], 'i32'));
      }
      const params = flipEraseParams(u, s, s, this.augment);
      return { images: applyFlipErase(resized, params, this.augment.value ?? 0), augmentParams: params };
    });
    const labels = tensor(Int32Array.from(d.indices.map((i) => this.dataset.items[i].label)), [d.indices.length], 'i32');
    keep(images);
    keep(labels);
    if (augmentParams) keep(augmentParams);
    return {
      images,
      labels,
      indices: d.indices,
      augmentParams,
      epoch,
      index: k,
      dispose() {
        images.dispose();
        labels.dispose();
        augmentParams?.dispose();
      },
    };
  }

  /** The batches of one epoch. Dispose each batch when done with it. */
  async *epoch(epoch: number): AsyncGenerator<Batch, void, undefined> {
    const order = this.order(epoch);
    const n = order.length;
    let pending: Promise<Decoded> | null = n > 0 ? this.decode(order, 0) : null;
    try {
      for (let k = 0; pending; k++) {
        const d: Decoded = await pending;
        pending = null;
        if (this.prefetch && d.next < n) {
          pending = this.decode(order, d.next);
          // an abandoned prefetch must not surface as an unhandled rejection
          pending.catch(() => {});
        }
        if (d.images.length === 0 || (this.dropLast && d.images.length < this.batchSize)) break;
        yield this.assemble(d, epoch, k);
        if (!this.prefetch && d.next < n) pending = this.decode(order, d.next);
      }
    } finally {
      if (pending) await pending.catch(() => {});
    }
  }
}
