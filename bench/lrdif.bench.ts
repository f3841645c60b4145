/**
 * LRDif steps for the `tiny` and `reference` configs (112×112 input, random weights and inputs;
 * the frozen CLIP and landmark encoders are not timed — the clip suite covers CLIP):
 *   stage-1 training step   FPEN_S1 + UDCformer forward, CE, backward, AdamW step
 *   stage-2 training step   FPEN_S2, the T = 4 reverse chain from the noised target, UDCformer,
 *                           CE + KL, backward, AdamW step
 *   inference batch         FPEN_S2, the chain from N(0, I), UDCformer, softmax (no gradients)
 * and first the time to the first training step of `lrdif train` in a child process, with cold
 * and with warm caches (bench/first-step.ts; no peer).
 * Each row gives images/s (printed) and, from timestamp queries, the kernels' shares of the GPU
 * time (printed, and the top five in the row's note). The peer is the independent PyTorch
 * implementation of test/golden/make_lrdif_fixtures.py on this machine's CPU, run in the same
 * benchmark run as a child process (bench/lrdif_torch_peer.py --serve, /usr/bin/python3, every
 * core) that times one call per request: each row's wall figures and ratio come from alternating
 * lrdif / PyTorch pairs, so both sides run in the same minutes of a machine whose speed drifts;
 * its row says why when torch is not there. `npm run bench -- lrdif`.
 */
import { fileURLToPath } from 'node:url';
import { backward, engine, noGrad, tensor, tidy, type Tensor } from '../src/node.js';
import { softmax } from '../src/kernels/softmax.js';
import { randomNormal, randomUniform, Generator } from '../src/kernels/random.js';
import { AdamW } from '../src/optim/adamw.js';
import { LrdifModel, makeLrdifConfig, type LrdifConfig } from '../src/models/lrdif/index.js';
import { round, type Harness, type Impl, type PeerName, type Suite } from './harness.js';
import { ServedPeer } from './served-peer.js';
import { describeFirstStep, timeToFirstStep, type FirstStepOptions, type FirstStepResult } from './first-step.js';

const PEER_SCRIPT = fileURLToPath(new URL('./lrdif_torch_peer.py', import.meta.url));
const PEER: PeerName = 'pytorch-cpu' as unknown as PeerName;

export type CaseName = 'stage1' | 'stage2' | 'infer';

/** The PyTorch peer running in `--serve` mode for one config, or why it could not start. */
type TorchPeer = { peer: ServedPeer; adapter: string } | { error: string };

async function startTorchPeer(cfg: LrdifConfig, batch: number): Promise<TorchPeer> {
  try {
    const { peer, info } = await ServedPeer.start('/usr/bin/python3', [PEER_SCRIPT, '--serve', JSON.stringify({ config: cfg, batch })], {
      label: 'the PyTorch peer',
      explain: (stderr) => (/No module named 'torch'/.test(stderr) ? 'PyTorch is not installed (apt-get install python3-torch)' : null),
    });
    return { peer, adapter: `PyTorch ${String(info.torch)} CPU, ${String(info.threads)} threads` };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * `pairs` samples of lrdif and of the peer, alternating (lrdif first in even pairs, the peer first
 * in odd ones), each call timed alone: wall ms and CPU ms (lrdif: this process, lavapipe's threads
 * included; the peer: its own process).
 */
async function pairedSamples(run: () => Tensor, finish: (rs: Tensor[]) => Promise<void>, peer: ServedPeer, c: CaseName, pairs: number) {
  const ours: Array<{ ms: number; cpuMs: number }> = [];
  const theirs: Array<{ ms: number; cpuMs: number | null }> = [];
  const timeOurs = async () => {
    const t = performance.now();
    const u = process.cpuUsage();
    await finish([run()]);
    const cu = process.cpuUsage(u);
    ours.push({ ms: performance.now() - t, cpuMs: (cu.user + cu.system) / 1000 });
  };
  await peer.time(c, 1); // the peer's warm-up request (lrdif is warm from the harness's samples)
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) await timeOurs();
    theirs.push(...(await peer.time(c, 1)));
    if (i % 2 === 1) await timeOurs();
  }
  return { ours, theirs };
}

/** GPU-time shares per kernel of one call, from timestamp queries (empty without them). */
async function kernelShares(h: Harness, run: () => Tensor): Promise<Array<[string, number]>> {
  if (!h.ctx.canProfile) return [];
  await h.ctx.sync();
  h.ctx.startProfile();
  const r = run();
  const prof = await h.ctx.stopProfile();
  await r.data();
  r.dispose();
  const by = new Map<string, number>();
  for (const p of prof) by.set(p.kernel, (by.get(p.kernel) ?? 0) + p.ms);
  const total = [...by.values()].reduce((a, b) => a + b, 0);
  return [...by].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, total > 0 ? v / total : 0]);
}

export interface LrdifCases {
  cfg: LrdifConfig;
  runs: Record<CaseName, () => Tensor>;
  dispose(): void;
}

/** The model, random inputs and optimisers of one config, and a function per case that runs it once (the loss or probabilities come back unread). */
export function lrdifCases(name: 'tiny' | 'reference', batch: number): LrdifCases {
  const cfg = makeLrdifConfig(name, { clipDim: name === 'tiny' ? 32 : 512 });
  const S = cfg.imageSize;
  const g = new Generator(1);
  const model = new LrdifModel(cfg, { seed: 0 });
  const x = randomUniform([batch, 3, S, S], { generator: g });
  const taps = [
    randomUniform([batch, cfg.landmarkChannels[0], S / 4, S / 4], { generator: g }),
    randomUniform([batch, cfg.landmarkChannels[1], S / 8, S / 8], { generator: g }),
    randomUniform([batch, cfg.landmarkChannels[2], S / 16, S / 16], { generator: g }),
  ] as const;
  const eImg = randomNormal([batch, cfg.clipDim], { generator: g });
  const eTxt = randomNormal([batch, cfg.clipDim], { generator: g });
  const labels = tensor(
    Int32Array.from({ length: batch }, (_, i) => i % cfg.numClasses),
    [batch],
    'i32',
  );
  const noise = randomNormal([batch, cfg.priorDim], { generator: g });
  const opt1 = new AdamW(model.stageParameters(1), { lr: 3.5e-4, weightDecay: 1e-4 });
  const opt2 = new AdamW(model.stageParameters(2), { lr: 3.5e-4, weightDecay: 1e-4 });
  const runs: Record<CaseName, () => Tensor> = {
    stage1: () => {
      model.setStage(1);
      const loss = tidy(() => model.stage1Loss(model.stage1Forward({ x112: x, taps, eImg, eTxt }), labels).total);
      backward(loss);
      opt1.step();
      opt1.zeroGrad();
      return loss;
    },
    stage2: () => {
      model.setStage(2);
      const loss = tidy(() => model.stage2Loss(model.stage2Forward({ x112: x, taps, eImg, eTxt, noise }), labels).total);
      backward(loss);
      opt2.step();
      opt2.zeroGrad();
      return loss;
    },
    infer: () => noGrad(() => tidy(() => softmax(model.stage2Forward({ x112: x, taps, eImg, noise }).logits, -1))),
  };
  return {
    cfg,
    runs,
    dispose() {
      for (const t of [x, ...taps, eImg, eTxt, labels, noise]) t.dispose();
      opt1.dispose();
      opt2.dispose();
      model.dispose();
    },
  };
}

/** Median of a non-empty list. */
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * One config's three steps: the harness times lrdif alone (warm-up, `samples` calls, GPU time),
 * then `pairs` alternating pairs of lrdif and the PyTorch peer give the row's wall figures and
 * ratio, so that both sides of the ratio come from the same minutes.
 */
async function benchConfig(h: Harness, name: 'tiny' | 'reference', batch: number, samples: number, pairs: number): Promise<void> {
  const { cfg, runs, dispose } = lrdifCases(name, batch);
  const S = cfg.imageSize;
  const labelsOf: Record<CaseName, string> = { stage1: 'lrdif stage-1 train step', stage2: 'lrdif stage-2 train step', infer: 'lrdif inference batch' };
  const peer = h.options.noPeers ? null : await startTorchPeer(cfg, batch);
  const span = (r?: [number, number]) => (r ? `${r[0].toFixed(0)}–${r[1].toFixed(0)} ms` : '?');
  const finish = async (rs: Tensor[]) => {
    await rs[rs.length - 1].data();
    for (const r of rs) r.dispose();
    engine.clearTape();
  };
  try {
    for (const c of ['stage1', 'stage2', 'infer'] as CaseName[]) {
      const impl: Impl<Tensor> = { run: runs[c], finish };
      await h.case({ name: labelsOf[c], shape: `${name}, batch ${batch}, ${S}×${S}, T = ${cfg.timesteps}`, ours: impl, samples });
      const row = h.rows[h.rows.length - 1];
      const shares = await kernelShares(h, runs[c]);
      const top = shares.slice(0, 5).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`);
      const notes: string[] = [];
      if (peer) {
        row.peer = PEER;
        row.peer_gpu_ms = null;
        if ('error' in peer) {
          row.peer_ms = null;
          row.ratio = null;
          row.peer_adapter = null;
          notes.push(`pytorch-cpu unavailable: ${peer.error}`);
        } else {
          row.peer_adapter = peer.adapter;
          try {
            const p = await pairedSamples(runs[c], finish, peer.peer, c, pairs);
            const alone = `lrdif alone before the pairs ${row.ours_wall_ms.toFixed(0)} ms (${span(row.ours_wall_range_ms)}, ${row.ours_samples} calls)`;
            const oursMs = p.ours.map((x) => x.ms);
            const peerMs = p.theirs.map((x) => x.ms);
            row.ours_wall_ms = round(median(oursMs), 4);
            row.ours_wall_range_ms = [round(Math.min(...oursMs), 4), round(Math.max(...oursMs), 4)];
            row.ours_samples = oursMs.length;
            row.peer_ms = round(median(peerMs), 4);
            row.peer_range_ms = [round(Math.min(...peerMs), 4), round(Math.max(...peerMs), 4)];
            row.peer_samples = peerMs.length;
            row.ratio = round(row.peer_ms / row.ours_wall_ms, 3);
            const each = p.theirs.map((t, k) => t.ms / p.ours[k].ms);
            notes.push(
              `${pairs} alternating pairs (each call alone): paired ratios median ${median(each).toFixed(3)} (${Math.min(...each).toFixed(3)}–${Math.max(...each).toFixed(3)})`,
              `samples lrdif ${span(row.ours_wall_range_ms)}, PyTorch ${span(row.peer_range_ms)}`,
            );
            const peerCpu = p.theirs.map((t) => t.cpuMs).filter((x): x is number => x !== null);
            notes.push(`CPU per call (all threads) lrdif ${median(p.ours.map((x) => x.cpuMs)).toFixed(0)} ms${peerCpu.length ? `, PyTorch ${median(peerCpu).toFixed(0)} ms` : ''}`);
            notes.push(alone);
          } catch (e) {
            row.peer_ms = null;
            row.ratio = null;
            notes.push(`pytorch-cpu failed: ${(e as Error).message.split('\n')[0]}`);
          }
        }
      }
      const rate = `${((1000 * batch) / row.ours_wall_ms).toFixed(2)} images/s`;
      const peerRate = row.peer_ms ? `; PyTorch ${((1000 * batch) / row.peer_ms).toFixed(2)} images/s (ratio ${row.ratio?.toFixed(2)}×)` : '';
      console.log(`   ${row.name} (${name}): ${rate} (wall)${peerRate}${shares.length ? `; GPU time by kernel: ${top.join(', ')}` : ''}`);
      row.note = [
        rate,
        ...(row.peer_ms ? [`PyTorch ${((1000 * batch) / row.peer_ms).toFixed(2)} images/s`] : []),
        ...(top.length ? [`top kernels: ${top.join(', ')}`] : []),
        ...notes,
      ].join('; ');
    }
  } finally {
    if (peer && !('error' in peer)) peer.peer.close();
    dispose();
  }
}

/**
 * Time to the first training step (bench/first-step.ts): `lrdif train` in a child process, from
 * its start to the end of step 1; cold (new tsx, Mesa and embedding caches every run) and warm
 * (tsx and Mesa caches of an earlier run). A row each: ours_ms is the median wall time; the note
 * gives the child's CPU time (what a loaded machine skews least) and the phases of the median run.
 */
export async function benchFirstStep(h: Pick<Harness, 'rows' | 'adapter'>, cold: number, warm: number, options: Pick<FirstStepOptions, 'bin' | 'images'> = {}): Promise<void> {
  const runs: Array<[string, number, boolean]> = [
    ['cold caches', cold, false],
    ['warm caches', warm, true],
  ];
  if (warm > 0) await timeToFirstStep({ ...options, warm: true }).catch(() => null); // fills the warm caches
  for (const [label, n, isWarm] of runs) {
    if (n === 0) continue;
    const shape = `tiny stage 1, batch 16, 112×112, ${label}`;
    const base = {
      name: 'lrdif train: time to the end of step 1',
      shape,
      ours_metric: 'wall' as const,
      peer: null,
      peer_ms: null,
      peer_gpu_ms: null,
      ratio: null,
      adapter: h.adapter,
    };
    const results: FirstStepResult[] = [];
    try {
      for (let i = 0; i < n; i++) results.push(await timeToFirstStep({ ...options, warm: isWarm }));
    } catch (e) {
      const note = `could not run: ${(e as Error).message.split('\n')[0]}`;
      console.log(`   time to the first step, ${label}: ${note}`);
      h.rows.push({ ...base, ours_ms: NaN, ours_wall_ms: NaN, ours_samples: results.length, note });
      continue;
    }
    const ms = median(results.map((r) => r.ms));
    const cpu = results.every((r) => r.cpuMs !== null) ? median(results.map((r) => r.cpuMs!)) : null;
    const mid = [...results].sort((a, b) => a.ms - b.ms)[results.length >> 1];
    const note = `${cpu === null ? '' : `median CPU ${(cpu / 1000).toFixed(1)} s (child and its children, all threads); `}median run: ${describeFirstStep(mid)}`;
    console.log(`   time to the first step, ${label}: ${note}`);
    h.rows.push({ ...base, ours_ms: Math.round(ms), ours_wall_ms: Math.round(ms), ours_samples: results.length, note });
  }
}

export const lrdifSuite: Suite = {
  name: 'lrdif',
  description:
    'time to the first training step of `lrdif train` (tiny, cold and warm caches; not with --quick); LRDif stage-1 and stage-2 training steps and an inference batch at 112×112: tiny (batch 16) and reference (batch 8) configs (--quick: tiny only; --gpu-sizes: both at batch 8 and 64), vs the PyTorch implementation on the CPU',
  async run(h) {
    // a cold first step takes minutes on a CPU adapter: the full run measures it, --quick does not
    if (!h.options.quick) await benchFirstStep(h, 3, 2);
    if (h.options.gpuSizes) {
      for (const name of ['tiny', 'reference'] as const) for (const batch of [8, 64]) await benchConfig(h, name, batch, h.options.quick ? 3 : 5, h.options.quick ? 3 : 5);
      return;
    }
    await benchConfig(h, 'tiny', 16, h.options.quick ? 3 : 5, h.options.quick ? 3 : 7);
    if (!h.options.quick) await benchConfig(h, 'reference', 8, 3, 3);
  },
};
