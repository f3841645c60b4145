/**
 * The ceiling of an LRDif step on this adapter (issue 12): what the step would take if every
 * kernel family ran at the best rate this adapter reaches on it, against PyTorch's time for the
 * same step on the same CPU.
 *
 *   npx tsx bench/lrdif-ceiling.ts [--config tiny|reference] [--stage 1|2|infer] [--samples N]
 *                                  [--no-torch] [--torch-threads N] [--out file.md]
 *                                  [--shapes N] [--family name]   (the costliest-shapes tables)
 *   npx tsx bench/lrdif-ceiling.ts --check      only the FLOP table's check against hand counts
 *
 * Per case (the steps of bench/lrdif.bench.ts: stage-1 and stage-2 training steps, inference;
 * tiny at batch 16, reference at batch 8; all three unless --stage picks one):
 * 1. Every dispatch of one step is recorded (kernel, uniforms, bound bytes) by wrapping
 *    `ctx.dispatch`, and tagged forward / backward (inside an autograd rule, wrapping
 *    `engine.record`) / optimizer. FLOPs come from the dispatch's own uniforms by one table of
 *    formulas (`flopsOf`); kernels without arithmetic to speak of count bytes instead (the sizes of
 *    the buffers they bind: an upper estimate of what they move).
 * 2. Each dispatch's GPU time comes from timestamp queries (`ctx.startProfile`), the median per
 *    dispatch over the profiled runs. A family's best compute rate is the fastest of its shapes
 *    in the step (those holding ≥ 2 % of its FLOPs); for matmul also the best tile (8, 16, 32 rows)
 *    on the step's largest matmul shapes and on 512³, run alone. The best bandwidth is the fastest
 *    memory-bound shape in the step or a large same-shape add, whichever is faster.
 * 3. Lower bounds, in CPU time: (A) each family's FLOPs at its own best rate, memory-bound kernels
 *    at the best bandwidth; (B) every FLOP at the best rate of any family (what convolutions,
 *    depthwise and attention as implicit GEMM on the best matmul tile could at best reach), the
 *    same memory term; (C) B without the memory term (every memory-bound kernel fused away).
 *    Best reachable ratio = PyTorch's time / bound.
 * 4. PyTorch: bench/lrdif_ceiling_peer.py (the steps of bench/lrdif_torch_peer.py, timed by wall
 *    clock and process CPU time) in a child process, after the lrdif measurements; one thread
 *    unless --torch-threads says otherwise: on a shared machine OpenMP's waiting threads spin and
 *    inflate PyTorch's CPU time, and one thread's CPU time is the least work PyTorch needs.
 *
 * The machine may be shared: the 1-minute load average is printed beside every figure, times are
 * medians, and lrdif's process CPU time (lavapipe's threads included) is given beside its wall
 * time. Absolute figures from a loaded machine are inflated; the ratios and shares are what to
 * read. Prints a markdown section (also written to --out).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync, renameSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { backward, engine, initNode, noGrad, tidy, type Tensor } from '../src/node.js';
import { conv2d } from '../src/kernels/conv.js';
import { sum } from '../src/kernels/reduce.js';
import type { GpuContext, DispatchArgs } from '../src/gpu/context.js';
import type { Kernel, KernelRequest } from '../src/gpu/kernel.js';
import type { PooledBuffer } from '../src/gpu/buffer-pool.js';
import { matmul } from '../src/kernels/matmul.js';
import { add } from '../src/kernels/elementwise.js';
import { randomUniform } from '../src/kernels/random.js';
import { lrdifCases, type CaseName } from './lrdif.bench.js';

// ---------------------------------------------------------------- options

interface Options {
  config: 'tiny' | 'reference';
  cases: CaseName[];
  samples: number;
  torch: boolean;
  /** PyTorch's threads: 1 by default, since on a shared machine OpenMP's spinning threads inflate CPU time (one thread's CPU time is the least work PyTorch needs). */
  torchThreads: number;
  out: string | null;
  /** Only check the FLOP table and exit. */
  checkOnly: boolean;
  /** Rows of each step's costliest-shapes table. */
  shapes: number;
  /** Only shapes of families whose name contains this (the costliest-shapes table). */
  family: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { config: 'tiny', cases: ['stage1', 'stage2', 'infer'], samples: 0, torch: true, torchThreads: 1, out: null, checkOnly: false, shapes: 12, family: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--config' && (v === 'tiny' || v === 'reference')) ((o.config = v), i++);
    else if (a === '--stage' && (v === '1' || v === '2' || v === 'infer')) ((o.cases = [v === '1' ? 'stage1' : v === '2' ? 'stage2' : 'infer']), i++);
    else if (a === '--samples' && Number(v) >= 1) ((o.samples = Math.floor(Number(v))), i++);
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--check') o.checkOnly = true;
    else if (a === '--torch-threads' && Number(v) >= 1) ((o.torchThreads = Math.floor(Number(v))), i++);
    else if (a === '--out' && v) ((o.out = v), i++);
    else if (a === '--shapes' && Number(v) >= 1) ((o.shapes = Math.floor(Number(v))), i++);
    else if (a === '--family' && v) ((o.family = v), i++);
    else
      throw new Error(
        `lrdif-ceiling: unexpected argument '${a}' (usage: [--config tiny|reference] [--stage 1|2|infer] [--samples N] [--no-torch] [--torch-threads N] [--out file.md] [--shapes N] [--family name] [--check])`,
      );
  }
  if (!o.samples) o.samples = o.config === 'tiny' ? 3 : 2;
  return o;
}

// ---------------------------------------------------------------- dispatch records

type Phase = 'forward' | 'backward' | 'optimizer';

interface DispatchRecord {
  label: string;
  shader: string;
  entry: string;
  consts: Record<string, number>;
  u: Record<string, number>;
  /** Bytes of the buffers bound (what the holders asked for): an upper estimate of the traffic of one pass. */
  bytes: number;
  phase: Phase;
  /** What replaying the dispatch alone needs: the kernel, its uniforms, the bound sizes, the grid. */
  replay: { kernel: Kernel; uniforms: Record<string, number | number[]>; slots: Array<{ names: string[]; bytes: number }>; workgroups: [number, number, number] };
}

const OPTIMIZER_SHADERS = new Set(['adamw', 'adamw4', 'sgd', 'grad_norm']);

/** `shader:entry{A=1,B=2}` → its parts. */
function parseLabel(label: string): { shader: string; entry: string; consts: Record<string, number> } {
  const m = /^([^:{]+):([^{]+)(?:\{(.*)\})?$/.exec(label);
  if (!m) throw new Error(`lrdif-ceiling: unexpected kernel label '${label}'`);
  const consts: Record<string, number> = {};
  for (const kv of (m[3] ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    consts[k] = Number(v);
  }
  return { shader: m[1], entry: m[2], consts };
}

/**
 * Wraps `ctx.dispatch` (records every dispatch the context encodes, in order) and
 * `engine.record` (marks dispatches made inside a backward rule), for the life of the script.
 */
function installRecorder(ctx: GpuContext): { start(): void; stop(): DispatchRecord[] } {
  let on = false;
  let records: DispatchRecord[] = [];
  let inRule = 0;
  let sawRule = false;
  const dispatch = ctx.dispatch.bind(ctx);
  ctx.dispatch = (k: Kernel | KernelRequest, args: DispatchArgs): void => {
    const kernel = 'pipeline' in k ? k : ctx.kernel(k);
    const [x, y = 1, z = 1] = args.workgroups;
    // the context skips empty grids before counting or timing them
    if (on && x * y * z > 0) {
      const { shader, entry, consts } = parseLabel(kernel.label);
      const u: Record<string, number> = {};
      const uniforms: Record<string, number | number[]> = {};
      for (const [name, v] of Object.entries(args.uniforms ?? {})) {
        u[name] = typeof v === 'number' ? v : NaN;
        uniforms[name] = typeof v === 'number' ? v : Array.from(v);
      }
      // array uniforms flattened (batchShape0, sa0…) for the formulas
      for (const [name, v] of Object.entries(uniforms)) if (Array.isArray(v)) v.forEach((x, i) => (u[`${name}${i}`] = x));
      // one buffer may be bound under two names (a and its vec4 view a4): count it once
      const slots = new Map<PooledBuffer, { names: string[]; bytes: number }>();
      for (const [name, pb] of Object.entries(args.bindings)) {
        const slot = slots.get(pb) ?? { names: [], bytes: pb.used ?? pb.capacity };
        slot.names.push(name);
        slots.set(pb, slot);
      }
      let bytes = 0;
      for (const slot of slots.values()) bytes += slot.bytes;
      const phase: Phase = OPTIMIZER_SHADERS.has(shader) ? 'optimizer' : inRule > 0 || sawRule ? 'backward' : 'forward';
      records.push({ label: kernel.label, shader, entry, consts, u, bytes, phase, replay: { kernel, uniforms, slots: [...slots.values()], workgroups: [x, y, z] } });
    }
    dispatch(kernel, args);
  };
  const record = engine.record.bind(engine);
  engine.record = (op, inputs, output, saved, rule) =>
    record(op, inputs, output, saved, (g, s) => {
      inRule++;
      sawRule = true;
      try {
        return rule(g, s);
      } finally {
        inRule--;
      }
    });
  return {
    start() {
      records = [];
      sawRule = false;
      on = true;
    },
    stop() {
      on = false;
      return records;
    },
  };
}

// ---------------------------------------------------------------- families and FLOPs

const FAMILIES = [
  'matmul (linear, 1×1 conv)',
  'conv forward',
  'conv data gradient',
  'conv weight gradient',
  'depthwise 3×3 + GDFN',
  'attention (channel, window)',
  'layer norm, softmax',
  'elementwise, reductions',
  'layout (copy, pad, permute)',
  'optimizer (AdamW)',
  'loss, DDPM, other',
] as const;
type Family = (typeof FAMILIES)[number];

const MATMUL_SHADERS = new Set(['matmul', 'matmul_sg', 'matmul_sg8', 'matmul_sg16', 'matmul_batch']);
const ATTENTION_SHADERS = new Set(['channel_attention', 'channel_attention_sg', 'window_attention', 'window_attention_sg']);
const ELEMENTWISE_SHADERS = new Set(['binary', 'unary', 'activation', 'expand', 'fill', 'reduce', 'random', 'dropout', 'scatter_add', 'rows', 'channel_affine']);
const LAYOUT_SHADERS = new Set(['slice', 'pad', 'permute', 'pixel_shuffle', 'gather', 'resize', 'pool', 'pool_window', 'maxpool', 'nd_index']);
const OTHER_SHADERS = new Set(['cross_entropy', 'loss', 'ddpm', 'ddpm_sg']);

function familyOf(r: DispatchRecord): Family {
  const s = r.shader;
  if (MATMUL_SHADERS.has(s)) return isActBackward(r) ? 'elementwise, reductions' : 'matmul (linear, 1×1 conv)';
  if (s === 'conv2d') {
    if (r.entry === 'backward_weight') return 'conv weight gradient';
    if (r.entry === 'forward') return r.phase === 'forward' ? 'conv forward' : 'conv data gradient';
    return 'conv data gradient'; // flip_weight, dilate: the data gradient's preparation
  }
  // a 1×1 "depthwise" is a per-channel scale: elementwise work
  if (s === 'depthwise') return (r.consts.KH ?? 1) * (r.consts.KW ?? 1) === 1 ? 'elementwise, reductions' : 'depthwise 3×3 + GDFN';
  if (s === 'gdfn') return 'depthwise 3×3 + GDFN';
  if (ATTENTION_SHADERS.has(s)) return 'attention (channel, window)';
  if (s === 'layernorm' || s === 'softmax') return 'layer norm, softmax';
  if (ELEMENTWISE_SHADERS.has(s)) return 'elementwise, reductions';
  if (LAYOUT_SHADERS.has(s)) return 'layout (copy, pad, permute)';
  if (OPTIMIZER_SHADERS.has(s)) return 'optimizer (AdamW)';
  if (!OTHER_SHADERS.has(s)) unknownShaders.add(s);
  return 'loss, DDPM, other';
}
const unknownShaders = new Set<string>();

/** The fused activation's backward (matmul.wgsl `act_backward`, `act_backward4`): elementwise, not a product. */
function isActBackward(r: DispatchRecord): boolean {
  return r.entry === 'act_backward' || r.entry === 'act_backward4';
}

/**
 * FLOPs (2 per multiply-add) of one dispatch, from its uniforms; 0 for kernels counted by bytes.
 * Only the products are counted (no epilogues, softmax or normalisation), as PyTorch's and the
 * benches' GFLOP/s do.
 */
function flopsOf(r: DispatchRecord): number {
  const u = r.u;
  const s = r.shader;
  if (MATMUL_SHADERS.has(s) && !isActBackward(r)) {
    let batch = 1;
    for (let i = 0; i < (u.batchRank ?? 0); i++) batch *= u[`batchShape${i}`];
    return 2 * u.M * u.N * u.K * batch;
  }
  if (s === 'conv2d' && (r.entry === 'forward' || r.entry === 'backward_weight')) return 2 * u.n * u.o * u.oh * u.ow * u.cg * u.kh * (r.consts.KW ?? u.kh);
  if (s === 'depthwise') {
    const taps = (r.consts.KH ?? 1) * (r.consts.KW ?? 1);
    return taps === 1 ? 0 : 2 * u.n * u.o * u.oh * u.ow * u.cg * taps;
  }
  // a 3×3 depthwise over the 2h channels (the gate's few operations not counted); backward: dx and dw
  if (s === 'gdfn') return (r.entry === 'forward' ? 1 : u.want_dx ? 2 : 1) * 2 * 9 * u.n * 2 * u.h * u.hh * u.w;
  if (s === 'channel_attention' || s === 'channel_attention_sg') {
    // gram: q·kᵀ (c×c over n); mix: A·v
    if (r.entry === 'gram' || r.entry === 'mix' || r.entry === 'mix_vec4') return 2 * u.c * u.c * u.n * u.problems;
    return 0;
  }
  if (s === 'window_attention' || s === 'window_attention_sg') {
    const prod = 2 * u.m * u.m * u.d * u.problems; // one M×M×d product per window and head
    // forward: q·kᵀ, P·v; bwd_kv: recomputed scores, dO·vᵀ, Pᵀ·dO, dsᵀ·q; bwd_dq: ds·k; portable bwd_q: scores, dO·vᵀ, ds·k
    if (r.entry === 'forward') return 2 * prod;
    if (r.entry === 'bwd_kv') return 4 * prod;
    if (r.entry === 'bwd_dq') return prod;
    if (r.entry === 'bwd_q') return 3 * prod;
    return 0;
  }
  return 0;
}

/**
 * The FLOP table checked where the products are known by hand: a 3×3 convolution and a batched
 * matmul with a shared operand, forward and both gradients (each product counted three times).
 * A kernel whose uniforms were renamed would give NaN or a wrong count here instead of a wrong table.
 */
async function checkFlopTable(rec: ReturnType<typeof installRecorder>): Promise<void> {
  const x = randomUniform([2, 8, 10, 10]);
  const w = randomUniform([16, 8, 3, 3]);
  const a = randomUniform([3, 5, 7]);
  const b = randomUniform([7, 11]);
  for (const t of [x, w, a, b]) t.requiresGrad = true;
  try {
    rec.start();
    const loss = tidy(() => add(sum(conv2d(x, w, null, { padding: 1 })), sum(matmul(a, b))));
    backward(loss);
    const rs = rec.stop();
    await finish(loss);
    const by = new Map<Family, number>();
    for (const r of rs) by.set(familyOf(r), (by.get(familyOf(r)) ?? 0) + flopsOf(r));
    const conv = 2 * 2 * 16 * 10 * 10 * 8 * 9;
    const want: Array<[Family, number]> = [
      ['conv forward', conv],
      ['conv data gradient', conv],
      ['conv weight gradient', conv],
      ['matmul (linear, 1×1 conv)', 3 * 2 * 3 * 5 * 7 * 11],
    ];
    for (const [fam, n] of want) {
      if (by.get(fam) !== n)
        throw new Error(`lrdif-ceiling: the FLOP table counts ${by.get(fam)} FLOPs of ${fam} in the check, ${n} by hand (kernels: ${rs.map((r) => r.label).join(', ')})`);
    }
  } finally {
    for (const t of [x, w, a, b]) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}

// ---------------------------------------------------------------- measuring

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const load = (): number => loadavg()[0];

async function finish(t: Tensor): Promise<void> {
  await t.data();
  t.dispose();
  engine.clearTape();
}

interface Measured {
  records: DispatchRecord[];
  /** Median GPU ms per dispatch over the profiled runs. */
  gpuMs: number[];
  wallMs: number;
  cpuMs: number;
  load: number[];
}

async function measureCase(ctx: GpuContext, rec: ReturnType<typeof installRecorder>, run: () => Tensor, samples: number): Promise<Measured> {
  const loads = [load()];
  await finish(run()); // pipelines
  await finish(run());
  let records: DispatchRecord[] = [];
  const perDispatch: number[][] = [];
  for (let s = 0; s < samples; s++) {
    await ctx.sync();
    rec.start();
    ctx.startProfile();
    const r = run();
    const prof = await ctx.stopProfile();
    const rs = rec.stop();
    await finish(r);
    if (prof.length !== rs.length || prof.some((p, i) => p.kernel !== rs[i].label)) {
      throw new Error(`lrdif-ceiling: ${prof.length} timed dispatches against ${rs.length} recorded ones: the step's dispatches differ between the profile and the recorder`);
    }
    if (s === 0) records = rs;
    else if (rs.length !== records.length || rs.some((x, i) => x.label !== records[i].label)) throw new Error('lrdif-ceiling: the step dispatched different kernels in two runs');
    prof.forEach((p, i) => (perDispatch[i] ??= []).push(p.ms));
  }
  loads.push(load());
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let s = 0; s < samples; s++) {
    await ctx.sync();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await finish(run());
    walls.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
  }
  loads.push(load());
  return { records, gpuMs: perDispatch.map(median), wallMs: median(walls), cpuMs: median(cpus), load: loads };
}

interface LoopTime {
  /** Per call: wall ms, and CPU ms of the whole process (lavapipe's threads included). */
  wallMs: number;
  cpuMs: number;
}

/** CPU ms that one `ctx.sync()` with nothing pending costs (dawn.node's polling), taken off each timed round. */
let syncCpuMs = 0;

async function measureSyncCost(ctx: GpuContext): Promise<void> {
  const cs: number[] = [];
  for (let i = 0; i < 9; i++) {
    const c0 = process.cpuUsage();
    await ctx.sync();
    const c = process.cpuUsage(c0);
    cs.push((c.user + c.system) / 1000);
  }
  syncCpuMs = median(cs);
}

/**
 * `call` alone, warm: three rounds of `reps` calls, each round encoded back to back and ended by
 * one sync; per-call medians. `reps` is chosen so that a round takes about `roundMs` of CPU.
 */
async function timeLoop(ctx: GpuContext, call: () => void, roundMs = 120): Promise<LoopTime> {
  const round = async (reps: number): Promise<LoopTime> => {
    await ctx.sync();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) call();
    await ctx.sync();
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return { wallMs: wall / reps, cpuMs: Math.max(0, (c.user + c.system) / 1000 - syncCpuMs) / reps };
  };
  const first = await round(1); // pipelines, buffers
  const reps = Math.max(2, Math.min(400, Math.round(roundMs / Math.max(first.cpuMs, 0.05))));
  const rs = [await round(reps), await round(reps), await round(reps)];
  return { wallMs: median(rs.map((r) => r.wallMs)), cpuMs: median(rs.map((r) => r.cpuMs)) };
}

/** One recorded dispatch replayed alone (same kernel, uniforms, buffer sizes and grid; zeroed buffers). */
async function replayTime(ctx: GpuContext, r: DispatchRecord): Promise<LoopTime> {
  const bufs: PooledBuffer[] = [];
  const bindings: Record<string, PooledBuffer> = {};
  try {
    for (const slot of r.replay.slots) {
      const pb = ctx.acquire(slot.bytes, `replay of ${r.label}`);
      bufs.push(pb);
      ctx.upload(pb, new Uint8Array(Math.ceil(slot.bytes / 4) * 4));
      for (const n of slot.names) bindings[n] = pb;
    }
    return await timeLoop(ctx, () => ctx.dispatch(r.replay.kernel, { bindings, uniforms: r.replay.uniforms, workgroups: r.replay.workgroups }));
  } finally {
    await ctx.sync();
    for (const pb of bufs) ctx.release(pb);
  }
}

interface MatmulShape {
  batch: number;
  sharedA: boolean;
  sharedB: boolean;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

function matmulShapeOf(r: DispatchRecord): MatmulShape | null {
  const u = r.u;
  if ((u.batchRank ?? 0) > 1) return null;
  const batch = u.batchRank === 1 ? u.batchShape0 : 1;
  const shared = (x: string) => batch > 1 && !(u[x] > 0); // stride 0 over the batch: one operand for every batch
  return { batch, sharedA: shared('sa0'), sharedB: shared('sb0'), M: u.M, N: u.N, K: u.K, transA: u.transA === 1, transB: u.transB === 1 };
}

const fmtMatmul = (s: MatmulShape): string => `${s.batch > 1 ? `${s.batch}× ` : ''}${s.M}×${s.K}${s.transA ? 'ᵀ' : ''}·${s.K}×${s.N}${s.transB ? 'ᵀ' : ''}`;

interface Rate {
  /** GFLOP per CPU-second (per core fully busy), and GFLOP/s of wall time. */
  cpu: number;
  wall: number;
  where: string;
}

/** The best rate of the matmul op on one shape over the tile heights (8, 16, 32 rows), alone. */
async function bestMatmulRate(ctx: GpuContext, s: MatmulShape): Promise<Rate> {
  const dims = (rows: number, cols: number, t: boolean) => (t ? [cols, rows] : [rows, cols]);
  const a = randomUniform([...(s.batch > 1 && !s.sharedA ? [s.batch] : []), ...dims(s.M, s.K, s.transA)]);
  const b = randomUniform([...(s.batch > 1 && !s.sharedB ? [s.batch] : []), ...dims(s.K, s.N, s.transB)]);
  const flops = 2 * s.batch * s.M * s.N * s.K;
  let best: Rate = { cpu: 0, wall: 0, where: '' };
  try {
    for (const tile of [8, 16, 32] as const) {
      const t = await ctx.withTuning({ matmul: { tileRows: tile } }, () => timeLoop(ctx, () => noGrad(() => matmul(a, b, { transA: s.transA, transB: s.transB })).dispose()));
      const cpu = flops / t.cpuMs / 1e6;
      if (cpu > best.cpu) best = { cpu, wall: flops / t.wallMs / 1e6, where: `${fmtMatmul(s)}, ${tile}-row tile` };
    }
  } finally {
    a.dispose();
    b.dispose();
  }
  return best;
}

/** GB per CPU-second of a same-shape add of 4M floats (48 MB bound), the plainest memory-bound kernel. */
async function addBandwidth(ctx: GpuContext): Promise<Rate> {
  const n = 1 << 22;
  const a = randomUniform([n]);
  const b = randomUniform([n]);
  try {
    const t = await timeLoop(ctx, () => noGrad(() => add(a, b)).dispose());
    return { cpu: (12 * n) / t.cpuMs / 1e6, wall: (12 * n) / t.wallMs / 1e6, where: 'same-shape add of 4M floats, alone' };
  } finally {
    a.dispose();
    b.dispose();
  }
}

// ---------------------------------------------------------------- torch

interface TorchResult {
  torch?: string;
  threads?: number;
  cases?: Partial<Record<CaseName, { median_ms: number; cpu_median_ms: number; samples: number }>>;
  mm512?: { wall: number; cpu: number };
  error?: string;
  load: number[];
}

function torchPeer(cfg: object, batch: number, samples: number, cases: CaseName[], threads: number): TorchResult {
  const script = fileURLToPath(new URL('./lrdif_ceiling_peer.py', import.meta.url));
  const loads = [load()];
  const r = spawnSync('nice', ['-n', '15', '/usr/bin/python3', script, JSON.stringify({ config: cfg, batch, samples, cases, threads })], { encoding: 'utf8', timeout: 1_800_000 });
  loads.push(load());
  if (r.error) return { error: `python3 could not run: ${r.error.message}`, load: loads };
  if (r.status !== 0) return { error: r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`, load: loads };
  try {
    return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult), load: loads };
  } catch {
    return { error: `unreadable output: ${r.stdout.slice(0, 200)}`, load: loads };
  }
}

// ---------------------------------------------------------------- analysis

interface Group {
  r: DispatchRecord;
  fam: Family;
  count: number;
  flops: number;
  bytes: number;
  gpuMs: number;
}

interface FamilyRow {
  family: Family;
  dispatches: number;
  flops: number;
  /** Bytes bound by the family's dispatches that count no FLOPs (memory-bound ones). */
  memBytes: number;
  gpuMs: number;
  computeGpuMs: number;
}

const groupKey = (r: DispatchRecord): string => `${r.label}|${JSON.stringify(r.replay.uniforms)}|${r.replay.workgroups}`;

function shapeNote(r: DispatchRecord): string {
  const u = r.u;
  const name = `${r.shader}:${r.entry}`;
  if (MATMUL_SHADERS.has(r.shader) && isActBackward(r)) return `${name}, ${(r.bytes / 1e6).toFixed(1)} MB`;
  if (MATMUL_SHADERS.has(r.shader)) {
    const s = matmulShapeOf(r);
    return `${name} ${s ? fmtMatmul(s) : `${u.M}×${u.K}·${u.K}×${u.N}`}`;
  }
  if (r.shader === 'conv2d' || r.shader === 'depthwise')
    return `${name} ${u.n}×${u.c}×${u.h}×${u.w}→${u.o}, ${r.consts.KH ?? u.kh}×${r.consts.KW ?? u.kh}, stride ${r.consts.SH ?? u.sh}${r.phase === 'backward' && r.entry === 'forward' ? ' (data gradient)' : ''}`;
  if (r.shader === 'gdfn') return `${name} ${u.n}×${2 * u.h}×${u.hh}×${u.w}`;
  if (r.shader.startsWith('channel_attention')) return `${name} c ${u.c}, N ${u.n}, ${u.problems} problems`;
  if (r.shader.startsWith('window_attention')) return `${name} M ${u.m}, d ${u.d}, ${u.problems} problems`;
  return `${r.label}, ${(r.bytes / 1e6).toFixed(1)} MB`;
}

function analyse(m: Measured): { rows: FamilyRow[]; groups: Group[] } {
  const rows = new Map<Family, FamilyRow>(FAMILIES.map((f) => [f, { family: f, dispatches: 0, flops: 0, memBytes: 0, gpuMs: 0, computeGpuMs: 0 }]));
  const groups = new Map<string, Group>();
  m.records.forEach((r, i) => {
    const fam = familyOf(r);
    const row = rows.get(fam)!;
    const f = flopsOf(r);
    if (!Number.isFinite(f)) throw new Error(`lrdif-ceiling: no FLOP count for ${r.label} (a uniform the formula reads is missing: ${JSON.stringify(r.u)})`);
    const ms = m.gpuMs[i];
    row.dispatches++;
    row.gpuMs += ms;
    if (f > 0) ((row.flops += f), (row.computeGpuMs += ms));
    else row.memBytes += r.bytes;
    const key = groupKey(r);
    const g = groups.get(key) ?? { r, fam, count: 0, flops: 0, bytes: 0, gpuMs: 0 };
    g.count++;
    g.flops += f;
    g.bytes += f > 0 ? 0 : r.bytes;
    g.gpuMs += ms;
    groups.set(key, g);
  });
  return { rows: [...rows.values()], groups: [...groups.values()] };
}

/** The shapes worth replaying alone: per compute family its 3 largest (≥ 2 % of its FLOPs), and the 4 largest memory-bound ones. */
function candidates(rows: FamilyRow[], groups: Group[]): Group[] {
  const out: Group[] = [];
  for (const row of rows) {
    if (!row.flops) continue;
    out.push(
      ...groups
        .filter((g) => g.fam === row.family && g.flops >= 0.02 * row.flops)
        .sort((a, b) => b.flops - a.flops)
        .slice(0, 3),
    );
  }
  out.push(
    ...groups
      .filter((g) => g.flops === 0)
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 4),
  );
  return out;
}

// ---------------------------------------------------------------- report

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const CASE_NAMES: Record<CaseName, string> = { stage1: 'stage-1 training step', stage2: 'stage-2 training step', infer: 'inference' };

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const ctx = await initNode();
  if (!ctx.canProfile) throw new Error('lrdif-ceiling: this adapter has no timestamp queries; the per-kernel times need them');
  const rec = installRecorder(ctx);
  await checkFlopTable(rec);
  if (opts.checkOnly) {
    console.log('lrdif-ceiling: the FLOP table agrees with the hand counts');
    ctx.dispose();
    return;
  }
  const batch = opts.config === 'tiny' ? 16 : 8;
  const started = new Date().toISOString();
  const out: string[] = [];
  const say = (s = ''): void => {
    out.push(s);
    console.log(s);
  };
  const progress = (s: string): void => console.error(`${s} (load ${f2(load())})…`);

  // 1. the steps: dispatches, per-dispatch GPU time, wall and CPU time
  const { cfg, runs, dispose } = lrdifCases(opts.config, batch);
  const measured = new Map<CaseName, Measured>();
  try {
    for (const c of opts.cases) {
      progress(`measuring ${c} (${opts.config}, batch ${batch})`);
      measured.set(c, await measureCase(ctx, rec, runs[c], opts.samples));
    }
  } finally {
    dispose();
  }
  const analysed = new Map([...measured].map(([c, m]) => [c, analyse(m)]));

  // 2. the best rates: the steps' largest shapes replayed alone, the matmul tiles, a plain add
  progress('replaying the largest shapes alone');
  const rateLoad = [load()];
  await measureSyncCost(ctx);
  const replays = new Map<string, { g: Group; t: LoopTime }>();
  const mmShapes = new Map<string, { s: MatmulShape; flops: number }>();
  for (const { rows, groups } of analysed.values()) {
    for (const g of candidates(rows, groups)) {
      const key = groupKey(g.r);
      if (!replays.has(key)) replays.set(key, { g, t: await replayTime(ctx, g.r) });
    }
    for (const g of groups
      .filter((x) => x.fam === 'matmul (linear, 1×1 conv)' && x.flops > 0)
      .sort((a, b) => b.flops - a.flops)
      .slice(0, 3)) {
      const s = matmulShapeOf(g.r);
      if (s) mmShapes.set(fmtMatmul(s), { s, flops: g.flops });
    }
  }
  mmShapes.set('512³', { s: { batch: 1, sharedA: false, sharedB: false, M: 512, N: 512, K: 512, transA: false, transB: false }, flops: 0 });
  // the fixed cost of a dispatch: the step's smallest memory-bound dispatch, replayed alone
  let tiniest: DispatchRecord | null = null;
  for (const m of measured.values()) for (const r of m.records) if (flopsOf(r) === 0 && (!tiniest || r.bytes < tiniest.bytes)) tiniest = r;
  const fixedCost = tiniest ? { r: tiniest, t: await replayTime(ctx, tiniest) } : null;
  progress('matmul tiles');
  const tileRates: Rate[] = [];
  for (const { s } of mmShapes.values()) tileRates.push(await bestMatmulRate(ctx, s));
  const addRate = await addBandwidth(ctx);
  rateLoad.push(load());

  const best = new Map<Family, Rate>();
  let bw: Rate = addRate;
  const replayRows: string[] = [];
  for (const { g, t } of replays.values()) {
    const one = g.r;
    const flops = flopsOf(one);
    const rate: Rate =
      flops > 0
        ? { cpu: flops / t.cpuMs / 1e6, wall: flops / t.wallMs / 1e6, where: shapeNote(one) }
        : { cpu: one.bytes / t.cpuMs / 1e6, wall: one.bytes / t.wallMs / 1e6, where: shapeNote(one) };
    if (flops > 0) {
      if (rate.cpu > (best.get(g.fam)?.cpu ?? 0)) best.set(g.fam, rate);
    } else if (rate.cpu > bw.cpu) bw = rate;
    replayRows.push(
      `| ${shapeNote(one)} | ${g.fam} | ${flops > 0 ? `${f2(flops / 1e9)} GFLOP` : `${f1(one.bytes / 1e6)} MB`} | ${f2(t.cpuMs)} | ${f2(t.wallMs)} | ${f1(rate.cpu)} | ${f1(rate.wall)} |`,
    );
  }
  for (const t of tileRates) {
    const fam: Family = 'matmul (linear, 1×1 conv)';
    if (t.cpu > (best.get(fam)?.cpu ?? 0)) best.set(fam, { ...t, where: `matmul op alone: ${t.where}` });
  }
  const peak = [...best.values()].reduce((a, b) => (b.cpu > a.cpu ? b : a));

  // 3. PyTorch, after lrdif has finished
  if (opts.torch) progress('PyTorch');
  const torch = opts.torch ? torchPeer(cfg, batch, opts.samples, opts.cases, opts.torchThreads) : null;

  // 4. the report
  say(`### ${opts.config} config, batch ${batch}, ${cfg.imageSize}×${cfg.imageSize}, T = ${cfg.timesteps}`);
  say();
  say(
    `\`nice -n 15 npx tsx bench/lrdif-ceiling.ts ${process.argv.slice(2).join(' ')}\` at ${started} on ${ctx.adapter.summary}, ${opts.samples} profiled and ${opts.samples} timed runs of each step after two warm-up runs (medians). ` +
      `CPU times are the process's, all threads (lavapipe's included); a rate "per CPU-s" is GFLOP (or GB) per second of one fully busy core, which a loaded machine skews far less than wall time. ` +
      `The 1-minute load average is given beside each figure; the absolute wall figures of a loaded run are inflated.`,
  );
  say();
  say(
    `Rates alone, warm (load ${rateLoad.map(f2).join(' → ')}): each shape replayed as the step dispatched it, zeroed buffers; matmul shapes also through the matmul op at each tile height. ${f1(syncCpuMs)} ms of CPU per sync (polling) is taken off each timed round.`,
  );
  say();
  say('| kernel and shape (alone) | family | work per call | CPU ms per call | wall ms per call | per CPU-s | per wall s |');
  say('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of replayRows) say(r);
  for (const t of tileRates) say(`| matmul op ${t.where} | matmul (linear, 1×1 conv) | | | | ${f1(t.cpu)} | ${f1(t.wall)} |`);
  say(`| ${addRate.where} | memory | 50.3 MB | | | ${f1(addRate.cpu)} | ${f1(addRate.wall)} |`);
  if (torch?.mm512) say(`| PyTorch ${torch.torch} torch.mm 512³, ${torch.threads} threads | (peer) | 0.27 GFLOP | | | ${f1(torch.mm512.cpu)} | ${f1(torch.mm512.wall)} |`);
  say();
  say(
    `Bound A: each family's FLOPs at its best rate above, memory-bound kernels at ${f1(bw.cpu)} GB per CPU-s (${bw.where}). ` +
      `Bound B: every FLOP at the best rate of any family, ${f1(peak.cpu)} GFLOP per CPU-s (${peak.where}): convolutions, depthwise and attention as implicit GEMM on the best matmul tile; the same memory term. Bound C: bound B without its memory term (every memory-bound kernel fused away). ` +
      `"As run" splits lrdif's CPU time over the families by their shares of the profiled GPU time (host encoding spread with it).`,
  );
  say();
  const summary: string[] = [];
  const headroom: string[] = [];
  for (const [c, m] of measured) {
    const { rows } = analysed.get(c)!;
    const gpuTotal = rows.reduce((a, r) => a + r.gpuMs, 0);
    const flopsTotal = rows.reduce((a, r) => a + r.flops, 0);
    const memTotal = rows.reduce((a, r) => a + r.memBytes, 0);
    const asRun = (r: FamilyRow) => (r.gpuMs / gpuTotal) * m.cpuMs;
    const memMs = (r: FamilyRow) => r.memBytes / bw.cpu / 1e6;
    const boundA = (r: FamilyRow) => (r.flops > 0 ? r.flops / best.get(r.family)!.cpu / 1e6 : 0) + memMs(r);
    const boundB = (r: FamilyRow) => r.flops / peak.cpu / 1e6 + memMs(r);
    const totA = rows.reduce((a, r) => a + boundA(r), 0);
    const totB = rows.reduce((a, r) => a + boundB(r), 0);
    const totC = flopsTotal / peak.cpu / 1e6;
    const pt = torch?.cases?.[c];
    say(`#### ${opts.config} ${CASE_NAMES[c]}`);
    say();
    say(
      `${m.records.length} dispatches, ${f2(flopsTotal / 1e9)} GFLOP, ${f1(memTotal / 1e6)} MB bound by the memory-bound kernels. ` +
        `lrdif: ${f1(m.wallMs)} ms wall, ${f1(m.cpuMs)} ms CPU; Σ GPU time ${f1(gpuTotal)} ms (load ${m.load.map(f2).join(' → ')}). ` +
        (pt
          ? `PyTorch: ${f1(pt.median_ms)} ms wall, ${f1(pt.cpu_median_ms)} ms CPU (load ${torch!.load.map(f2).join(' → ')}), i.e. ${f1(flopsTotal / pt.cpu_median_ms / 1e6)} GFLOP per CPU-s on these FLOPs (lrdif: ${f1(flopsTotal / m.cpuMs / 1e6)}).`
          : `PyTorch: ${torch?.error ?? 'not run (--no-torch)'}.`),
    );
    say();
    say('| family | dispatches | GFLOP | MB (memory-bound) | share of GPU time | as run, CPU ms | best per CPU-s | bound A, CPU ms | bound B, CPU ms | left (as run − A) |');
    say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      if (r.dispatches === 0) continue;
      say(
        `| ${r.family} | ${r.dispatches} | ${r.flops ? f2(r.flops / 1e9) : ''} | ${r.memBytes ? f1(r.memBytes / 1e6) : ''} | ${pct(r.gpuMs / gpuTotal)} | ${f1(asRun(r))} | ${r.flops ? `${f1(best.get(r.family)!.cpu)} GFLOP` : `${f1(bw.cpu)} GB`} | ${f1(boundA(r))} | ${f1(boundB(r))} | ${f1(asRun(r) - boundA(r))} |`,
      );
    }
    say(`| **all** | ${m.records.length} | ${f2(flopsTotal / 1e9)} | ${f1(memTotal / 1e6)} | 100 % | ${f1(m.cpuMs)} | | ${f1(totA)} | ${f1(totB)} | ${f1(m.cpuMs - totA)} |`);
    say();
    // how the GPU time spreads over dispatch sizes: a long tail of small dispatches is overhead-bound
    const buckets = [0.1, 0.3, 1, 3, Infinity];
    const hist = buckets.map(() => ({ n: 0, ms: 0 }));
    for (const ms of m.gpuMs) {
      const b = hist[buckets.findIndex((u) => ms < u)];
      b.n++;
      b.ms += ms;
    }
    say(
      `Dispatches by GPU time each (the smallest dispatch of the steps, ${fixedCost ? `${shapeNote(fixedCost.r)}, takes ${f2(fixedCost.t.cpuMs)} ms of CPU and ${f2(fixedCost.t.wallMs)} ms wall when replayed alone: ${m.records.length} dispatches at that fixed cost are ${f1(m.records.length * fixedCost.t.cpuMs)} ms of CPU` : 'not replayed'}):`,
    );
    say();
    say('| GPU ms per dispatch | dispatches | Σ GPU ms | share |');
    say('| --- | --- | --- | --- |');
    let lo = 0;
    buckets.forEach((u, i) => {
      say(`| ${u === Infinity ? `≥ ${lo}` : `${lo}–${u}`} | ${hist[i].n} | ${f1(hist[i].ms)} | ${pct(hist[i].ms / gpuTotal)} |`);
      lo = u;
    });
    say();
    // where a family's "left" sits: its costliest shapes, each at its rate in the step
    const { groups } = analysed.get(c)!;
    const top = [...groups]
      .filter((g) => !opts.family || g.fam.includes(opts.family))
      .sort((a, b) => b.gpuMs - a.gpuMs)
      .slice(0, opts.shapes);
    say(
      `Costliest ${opts.shapes} shapes of the step${opts.family ? ` in the families matching '${opts.family}'` : ''} (dispatches with the same kernel, uniforms and grid), by GPU time; the rate is per GPU-s as dispatched in the step:`,
    );
    say();
    say('| kernel and shape | family | dispatches | GPU ms | share | work | per GPU-s |');
    say('| --- | --- | --- | --- | --- | --- | --- |');
    for (const g of top) {
      const work = g.flops > 0 ? `${f2(g.flops / 1e9)} GFLOP` : `${f1(g.bytes / 1e6)} MB`;
      const rate = g.flops > 0 ? `${f1(g.flops / g.gpuMs / 1e6)} GFLOP` : `${f1(g.bytes / g.gpuMs / 1e6)} GB`;
      say(`| ${shapeNote(g.r)} | ${g.fam} | ${g.count} | ${f1(g.gpuMs)} | ${pct(g.gpuMs / gpuTotal)} | ${work} | ${rate} |`);
    }
    say();
    summary.push(
      `| ${opts.config} ${CASE_NAMES[c]} | ${f1(m.wallMs)} | ${f1(m.cpuMs)} | ${pt ? f1(pt.median_ms) : '–'} | ${pt ? f1(pt.cpu_median_ms) : '–'} | ${pt ? `${f2(pt.median_ms / m.wallMs)}×` : '–'} | ${pt ? `${f2(pt.cpu_median_ms / m.cpuMs)}×` : '–'} | ${f1(totA)} | ${pt ? `${f2(pt.cpu_median_ms / totA)}×` : '–'} | ${f1(totB)} | ${pt ? `${f2(pt.cpu_median_ms / totB)}×` : '–'} | ${f1(totC)} | ${pt ? `${f2(pt.cpu_median_ms / totC)}×` : '–'} |`,
    );
    headroom.push(`| ${opts.config} ${CASE_NAMES[c]} | ${f1(m.cpuMs)} | ${f2(m.cpuMs / totA)}× | ${f2(m.cpuMs / totB)}× | ${f2(m.cpuMs / totC)}× |`);
  }
  say(`#### Summary (${opts.config}): ratio = PyTorch / lrdif; best ratio = PyTorch's CPU time / the bound`);
  say();
  say(
    '| step | lrdif wall ms | lrdif CPU ms | PyTorch wall ms | PyTorch CPU ms | ratio (wall) | ratio (CPU) | bound A, CPU ms | best ratio A | bound B, CPU ms | best ratio B | bound C, CPU ms | best ratio C |',
  );
  say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of summary) say(s);
  say();
  say(
    `Headroom within lrdif: lrdif's CPU time today over each bound, the most each lever could speed the step up (one process over a few minutes: less exposed to the load than the comparison with PyTorch, not immune to it).`,
  );
  say();
  say('| step | lrdif CPU ms | today / bound A | today / bound B | today / bound C |');
  say('| --- | --- | --- | --- | --- |');
  for (const s of headroom) say(s);
  say();
  if (unknownShaders.size) say(`Kernels with no family in this script (counted under "other", by bytes): ${[...unknownShaders].join(', ')}.`);
  if (opts.out) {
    const tmp = `${opts.out}.${process.pid}.tmp`;
    writeFileSync(tmp, out.join('\n') + '\n');
    renameSync(tmp, opts.out);
  }
  ctx.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
