/**
 * `lrdif engine-demo`: the engine's demo. Trains a small MLP classifier (nn.Linear layers with a
 * fused GELU, cross-entropy, AdamW) on a seeded 2-D spiral or blobs dataset, entirely on the
 * WebGPU device, with a progress bar, then reports train and test accuracy. (`lrdif demo` is
 * the LRDif pipeline: src/cli/demo.ts.)
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { initNode } from '../node.js';
import { backward } from '../autograd/backward.js';
import { noGrad, tidy } from '../autograd/engine.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { argmax } from '../kernels/reduce.js';
import { crossEntropy } from '../kernels/loss.js';
import { Linear, Sequential } from '../nn/index.js';
import { AdamW } from '../optim/index.js';
import type { Wrap } from './command.js';
import { accuracy, blobs, mulberry32, spiral, type ToyData } from './toy-data.js';

export interface EngineDemoOptions {
  dataset: 'spiral' | 'blobs';
  steps: number;
  batch: number;
  hidden: number;
  lr: number;
  seed: number;
  classes: number;
  /** Print plain progress lines instead of a redrawn bar (default: when stdout is not a terminal). */
  plain?: boolean;
}

export interface EngineDemoResult {
  trainAccuracy: number;
  testAccuracy: number;
  finalLoss: number;
  seconds: number;
  stepsPerSecond: number;
}

function makeData(o: EngineDemoOptions): { train: ToyData; test: ToyData } {
  const make = o.dataset === 'spiral' ? spiral : blobs;
  // different seeds: the test points are new samples of the same distribution
  return { train: make(200, o.classes, o.seed), test: make(100, o.classes, o.seed + 7919) };
}

/** Predicted classes for every point of `d`, in batches, without recording gradients. */
async function predict(model: Sequential, d: ToyData): Promise<Int32Array> {
  const x = tensor(d.x, [d.n, 2]);
  const pred = noGrad(() => tidy(() => argmax(model.forward(x), 1)));
  const out = (await pred.data()) as Int32Array;
  pred.dispose();
  x.dispose();
  return out;
}

interface Progress {
  update(step: number, loss: number, acc: number, stepsPerSecond: number): void;
  stop(): void;
}

function progressBar(total: number, plain: boolean): Progress {
  if (plain) {
    const every = Math.max(1, Math.round(total / 10));
    return {
      update(step, loss, acc, sps) {
        if (step % every === 0 || step === total) {
          process.stdout.write(
            `step ${String(step).padStart(String(total).length)}/${total}  loss ${loss.toFixed(4)}  acc ${(100 * acc).toFixed(1)}%  ${sps.toFixed(1)} steps/s\n`,
          );
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'training |{bar}| step {value}/{total} | loss {loss} | acc {acc} | {sps} steps/s',
      stream: process.stdout,
      hideCursor: true,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { loss: '-', acc: '-', sps: '-' });
  return {
    update(step, loss, acc, sps) {
      bar.update(step, { loss: loss.toFixed(4), acc: `${(100 * acc).toFixed(1)}%`, sps: sps.toFixed(1) });
    },
    stop() {
      bar.stop();
    },
  };
}

export async function runEngineDemo(o: EngineDemoOptions): Promise<EngineDemoResult> {
  const ctx = await initNode();
  try {
    const { train, test } = makeData(o);
    process.stdout.write(
      `lrdif engine-demo: ${o.dataset} (${o.classes} classes, ${train.n} train / ${test.n} test points), ` +
        `MLP 2→${o.hidden}→${o.hidden}→${o.classes} (GELU), AdamW lr ${o.lr}, ${o.steps} steps of ${o.batch}, on ${ctx.adapter.summary}\n`,
    );
    const model = new Sequential(
      new Linear(2, o.hidden, { activation: 'gelu', seed: o.seed }),
      new Linear(o.hidden, o.hidden, { activation: 'gelu', seed: o.seed + 1 }),
      new Linear(o.hidden, o.classes, { seed: o.seed + 2 }),
    );
    const opt = new AdamW(model.namedParameters(), { lr: o.lr, weightDecay: 1e-4 });
    const rand = mulberry32(o.seed + 1);
    const batch = Math.min(o.batch, train.n);
    const bx = new Float32Array(batch * 2);
    const by = new Int32Array(batch);
    const progress = progressBar(o.steps, o.plain ?? !process.stdout.isTTY);
    const reportEvery = 10; // a readback per step would stall the batched GPU work
    const t0 = performance.now();
    let lastLoss = NaN;
    let windowStart = t0;
    let windowStep = 0;
    try {
      for (let step = 1; step <= o.steps; step++) {
        for (let i = 0; i < batch; i++) {
          const j = Math.floor(rand() * train.n);
          bx[2 * i] = train.x[2 * j];
          bx[2 * i + 1] = train.x[2 * j + 1];
          by[i] = train.y[j];
        }
        const xb = tensor(bx, [batch, 2]);
        const yb = tensor(by, [batch], 'i32');
        const { loss, pred } = tidy(() => {
          const logits = model.forward(xb);
          return { loss: crossEntropy(logits, yb), pred: noGrad(() => argmax(logits, 1)) };
        });
        backward(loss);
        opt.step();
        opt.zeroGrad();
        if (step % reportEvery === 0 || step === o.steps) {
          lastLoss = await loss.item();
          const acc = accuracy((await pred.data()) as Int32Array, by);
          // speed over the last window: the first steps also pay for compiling the pipelines
          const now = performance.now();
          progress.update(step, lastLoss, acc, (step - windowStep) / ((now - windowStart) / 1000));
          windowStart = now;
          windowStep = step;
        }
        for (const t of [xb, yb, loss, pred] as Tensor[]) t.dispose();
      }
    } finally {
      progress.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    model.eval();
    const trainAccuracy = accuracy(await predict(model, train), train.y);
    const testAccuracy = accuracy(await predict(model, test), test.y);
    process.stdout.write(
      `done in ${seconds.toFixed(1)} s (${(o.steps / seconds).toFixed(1)} steps/s): ` +
        `final loss ${lastLoss.toFixed(4)}, train accuracy ${(100 * trainAccuracy).toFixed(1)}%, test accuracy ${(100 * testAccuracy).toFixed(1)}%\n`,
    );
    opt.dispose();
    model.dispose();
    return { trainAccuracy, testAccuracy, finalLoss: lastLoss, seconds, stepsPerSecond: o.steps / seconds };
  } finally {
    ctx.dispose();
  }
}

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`lrdif: engine-demo: --${name} must be a positive integer, got '${v}'`);
    return n;
  };
}

function positiveNumber(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new Error(`lrdif: engine-demo: --${name} must be a positive number, got '${v}'`);
    return n;
  };
}

export function registerEngineDemo(program: Command, wrap: Wrap): void {
  program
    .command('engine-demo')
    .description('train a small MLP classifier on a seeded 2-D toy dataset on the GPU (the engine demo)')
    .option('--dataset <name>', 'spiral or blobs', 'spiral')
    .option('--steps <n>', 'training steps', positiveInt('steps'), 300)
    .option('--batch <n>', 'mini-batch size', positiveInt('batch'), 128)
    .option('--hidden <n>', 'hidden units per layer', positiveInt('hidden'), 64)
    .option('--lr <x>', 'AdamW learning rate', positiveNumber('lr'), 1e-2)
    .option('--classes <n>', 'number of classes', positiveInt('classes'), 3)
    .option(
      '--seed <n>',
      'seed for data and weights',
      (v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new Error(`lrdif: engine-demo: --seed must be an integer ≥ 0, got '${v}'`);
        return n;
      },
      1,
    )
    .option('--plain', 'print progress lines instead of a progress bar')
    .action(
      wrap(async (opts: Omit<EngineDemoOptions, 'dataset'> & { dataset: string }) => {
        if (opts.dataset !== 'spiral' && opts.dataset !== 'blobs') {
          throw new Error(`lrdif: engine-demo: --dataset must be 'spiral' or 'blobs', got '${opts.dataset}'`);
        }
        await runEngineDemo({ ...opts, dataset: opts.dataset });
      }),
    );
}
