/**
 * The ceiling of an LRDif step on this adapter (issue 12): what the step would take if every
 * kernel family ran at the best rate this adapter reaches on it, against PyTorch's time for the
 * same step on the same CPU.
 *
 *   npx tsx bench/lrdif-ceiling.ts [--config tiny|reference] [--stage 1|2|infer] [--samples N]
 *                                  [--no-torch] [--out file.md]
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
 * 3. Lower bounds: (A) each family's FLOPs at its own best rate, memory-bound kernels at the best
 *    bandwidth; (B) every FLOP at the best matmul rate (what convolutions, depthwise and attention
 *    as implicit GEMM on the matmul tiles could at best reach), the same memory term.
 *    Best reachable ratio = PyTorch's time / bound.
 * 4. PyTorch: bench/lrdif_ceiling_peer.py (the steps of bench/lrdif_torch_peer.py, timed by wall
 *    clock and process CPU time; every core) in a child process, after the lrdif measurements.
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
import { engine, initNode, noGrad, type Tensor } from '../src/node.js';
import type { GpuContext, DispatchArgs } from '../src/gpu/context.js';
import type { Kernel, KernelRequest } from '../src/gpu/kernel.js';
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
  out: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { config: 'tiny', cases: ['stage1', 'stage2', 'infer'], samples: 0, torch: true, out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--config' && (v === 'tiny' || v === 'reference')) (o.config = v), i++;
    else if (a === '--stage' && (v === '1' || v === '2' || v === 'infer')) (o.cases = [v === '1' ? 'stage1' : v === '2' ? 'stage2' : 'infer']), i++;
    else if (a === '--samples' && Number(v) >= 1) (o.samples = Math.floor(Number(v))), i++;
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--out' && v) (o.out = v), i++;
    else throw new Error(`lrdif-ceiling: unexpected argument '${a}' (usage: [--config tiny|reference] [--stage 1|2|infer] [--samples N] [--no-torch] [--out file.md])`);
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
}

const OPTIMIZER_SHADERS = new Set(['adamw', 'sgd', 'grad_norm']);

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
      for (const [name, v] of Object.entries(args.uniforms ?? {})) u[name] = typeof v === 'number' ? v : NaN;
      const batchShape = args.uniforms?.batchShape;
      if (batchShape && typeof batchShape !== 'number') for (let i = 0; i < batchShape.length; i++) u[`batchShape${i}`] = batchShape[i];
      let bytes = 0;
      for (const pb of Object.values(args.bindings)) bytes += pb.used ?? pb.capacity;
      const phase: Phase = OPTIMIZER_SHADERS.has(shader) ? 'optimizer' : inRule > 0 || sawRule ? 'backward' : 'forward';
      records.push({ label: kernel.label, shader, entry, consts, u, bytes, phase });
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
const ELEMENTWISE_SHADERS = new Set(['binary', 'unary', 'activation', 'expand', 'fill', 'reduce', 'random', 'dropout', 'scatter_add', 'rows']);
const LAYOUT_SHADERS = new Set(['slice', 'pad', 'permute', 'pixel_shuffle', 'gather', 'resize', 'pool', 'pool_window', 'maxpool', 'nd_index']);
const OTHER_SHADERS = new Set(['cross_entropy', 'loss', 'ddpm', 'ddpm_sg']);

function familyOf(r: DispatchRecord): Family {
  const s = r.shader;
  if (MATMUL_SHADERS.has(s)) return r.entry === 'act_backward' ? 'elementwise, reductions' : 'matmul (linear, 1×1 conv)';
  if (s === 'conv2d') {
    if (r.entry === 'backward_weight') return 'conv weight gradient';
    if (r.entry === 'forward') return r.phase === 'forward' ? 'conv forward' : 'conv data gradient';
    return 'conv data gradient'; // flip_weight, dilate: the data gradient's preparation
  }
  // a 1×1 "depthwise" is the per-(image, channel) modulation: elementwise work
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

/**
 * FLOPs (2 per multiply-add) of one dispatch, from its uniforms; 0 for kernels counted by bytes.
 * Only the products are counted (no epilogues, softmax or normalisation), as PyTorch's and the
 * benches' GFLOP/s do.
 */
function flopsOf(r: DispatchRecord): number {
  const u = r.u;
  const s = r.shader;
  if (MATMUL_SHADERS.has(s) && r.entry !== 'act_backward') {
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

/** Median GPU ms of one call of `fn` (its dispatches summed), over `reps` profiled calls. */
async function gpuTimeOf(ctx: GpuContext, fn: () => Tensor, reps: number): Promise<number> {
  await finish(fn());
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    await ctx.sync();
    ctx.startProfile();
    const r = fn();
    const prof = await ctx.stopProfile();
    await finish(r);
    ts.push(prof.reduce((a, p) => a + p.ms, 0));
  }
  return median(ts);
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

const fmtMatmul = (s: MatmulShape): string =>
  `${s.batch > 1 ? `${s.batch}× ` : ''}${s.M}×${s.K}${s.transA ? 'ᵀ' : ''}·${s.K}×${s.N}${s.transB ? 'ᵀ' : ''}`;

/** The best GPU-time rate (GFLOP/s) of the matmul kernels on one shape, over the tile heights. */
async function bestMatmulRate(ctx: GpuContext, s: MatmulShape): Promise<{ gflops: number; tile: number }> {
  const dims = (rows: number, cols: number, t: boolean) => (t ? [cols, rows] : [rows, cols]);
  const a = randomUniform([...(s.batch > 1 && !s.sharedA ? [s.batch] : []), ...dims(s.M, s.K, s.transA)]);
  const b = randomUniform([...(s.batch > 1 && !s.sharedB ? [s.batch] : []), ...dims(s.K, s.N, s.transB)]);
  const flops = 2 * s.batch * s.M * s.N * s.K;
  const reps = Math.max(3, Math.min(15, Math.round(2e9 / flops)));
  let best = { gflops: 0, tile: 0 };
  try {
    for (const tile of [8, 16, 32] as const) {
      const ms = await ctx.withTuning({ matmul: { tileRows: tile } }, () => gpuTimeOf(ctx, () => noGrad(() => matmul(a, b, { transA: s.transA, transB: s.transB })), reps));
      const gflops = flops / ms / 1e6;
      if (gflops > best.gflops) best = { gflops, tile };
    }
  } finally {
    a.dispose();
    b.dispose();
  }
  return best;
}

/** GB/s of a same-shape add of 4M floats (48 MB bound), the plainest memory-bound kernel. */
async function addBandwidth(ctx: GpuContext): Promise<number> {
  const n = 1 << 22;
  const a = randomUniform([n]);
  const b = randomUniform([n]);
  try {
    const ms = await gpuTimeOf(ctx, () => noGrad(() => add(a, b)), 7);
    return (3 * 4 * n) / ms / 1e6;
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
  mm512_gflops?: number;
  error?: string;
  load: number[];
}

function torchPeer(cfg: object, batch: number, samples: number, cases: CaseName[]): TorchResult {
  const script = fileURLToPath(new URL('./lrdif_ceiling_peer.py', import.meta.url));
  const loads = [load()];
  const r = spawnSync('nice', ['-n', '15', '/usr/bin/python3', script, JSON.stringify({ config: cfg, batch, samples, cases })], { encoding: 'utf8', timeout: 1_800_000 });
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

interface FamilyRow {
  family: Family;
  dispatches: number;
  flops: number;
  /** Bytes bound by the family's dispatches that count no FLOPs (memory-bound ones). */
  memBytes: number;
  gpuMs: number;
  computeMs: number;
  memMs: number;
  /** Best GFLOP/s of the family's compute dispatches (its fastest shape holding ≥ 2 % of its FLOPs). */
  bestRate: number;
  bestWhere: string;
}

function groupKey(r: DispatchRecord): string {
  return `${r.label}|${JSON.stringify(r.u)}`;
}

function shapeNote(r: DispatchRecord): string {
  const u = r.u;
  if (MATMUL_SHADERS.has(r.shader)) return `${r.shader} ${fmtMatmul(matmulShapeOf(r) ?? { batch: 1, sharedA: false, sharedB: false, M: u.M, N: u.N, K: u.K, transA: false, transB: false })}`;
  if (r.shader === 'conv2d' || r.shader === 'depthwise') return `${r.shader}:${r.entry} ${u.n}×${u.c}×${u.h}×${u.w}→${u.o}, k${u.kh}, s${u.sh}`;
  if (r.shader === 'gdfn') return `gdfn:${r.entry} ${u.n}×${2 * u.h}×${u.hh}×${u.w}`;
  if (r.shader.startsWith('channel_attention')) return `${r.shader}:${r.entry} c ${u.c}, n ${u.n}, ${u.problems} problems`;
  if (r.shader.startsWith('window_attention')) return `${r.shader}:${r.entry} m ${u.m}, d ${u.d}, ${u.problems} problems`;
  return r.label;
}

function analyse(m: Measured): { rows: FamilyRow[]; memBest: { gbps: number; where: string }; matmulTop: DispatchRecord[] } {
  const rows = new Map<Family, FamilyRow>(FAMILIES.map((f) => [f, { family: f, dispatches: 0, flops: 0, memBytes: 0, gpuMs: 0, computeMs: 0, memMs: 0, bestRate: 0, bestWhere: '' }]));
  const groups = new Map<string, { r: DispatchRecord; fam: Family; flops: number; bytes: number; ms: number }>();
  m.records.forEach((r, i) => {
    const fam = familyOf(r);
    const row = rows.get(fam)!;
    const f = flopsOf(r);
    const ms = m.gpuMs[i];
    row.dispatches++;
    row.gpuMs += ms;
    if (f > 0) (row.flops += f), (row.computeMs += ms);
    else (row.memBytes += r.bytes), (row.memMs += ms);
    const key = groupKey(r);
    const g = groups.get(key) ?? { r, fam, flops: 0, bytes: 0, ms: 0 };
    g.flops += f;
    g.bytes += f > 0 ? 0 : r.bytes;
    g.ms += ms;
    groups.set(key, g);
  });
  const totalMem = [...rows.values()].reduce((a, r) => a + r.memBytes, 0);
  let memBest = { gbps: 0, where: '' };
  for (const g of groups.values()) {
    const row = rows.get(g.fam)!;
    if (g.flops > 0 && g.flops >= 0.02 * row.flops && g.ms > 0) {
      const rate = g.flops / g.ms / 1e6;
      if (rate > row.bestRate) (row.bestRate = rate), (row.bestWhere = shapeNote(g.r));
    }
    if (g.flops === 0 && g.bytes >= 0.02 * totalMem && g.ms > 0) {
      const gbps = g.bytes / g.ms / 1e6;
      if (gbps > memBest.gbps) memBest = { gbps, where: shapeNote(g.r) };
    }
  }
  const matmulGroups = [...groups.values()].filter((g) => g.fam === 'matmul (linear, 1×1 conv)' && g.flops > 0).sort((a, b) => b.flops - a.flops);
  return { rows: [...rows.values()], memBest, matmulTop: matmulGroups.slice(0, 4).map((g) => g.r) };
}

// ---------------------------------------------------------------- report

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const ctx = await initNode();
  if (!ctx.canProfile) throw new Error('lrdif-ceiling: this adapter has no timestamp queries; the per-kernel times need them');
  const rec = installRecorder(ctx);
  const batch = opts.config === 'tiny' ? 16 : 8;
  const started = new Date().toISOString();
  const out: string[] = [];
  const say = (s = ''): void => {
    out.push(s);
    console.log(s);
  };
  const { cfg, runs, dispose } = lrdifCases(opts.config, batch);
  const measured = new Map<CaseName, Measured>();
  try {
    for (const c of opts.cases) {
      console.error(`measuring ${c} (${opts.config}, batch ${batch}), load ${f2(load())}…`);
      measured.set(c, await measureCase(ctx, rec, runs[c], opts.samples));
    }
  } finally {
    dispose();
  }
  // the best matmul tile on the steps' largest matmul shapes, and on 512³
  console.error(`matmul tiles and bandwidth, load ${f2(load())}…`);
  const mmLoad = [load()];
  const shapes = new Map<string, MatmulShape>();
  for (const m of measured.values()) for (const r of analyse(m).matmulTop) {
    const s = matmulShapeOf(r);
    if (s) shapes.set(fmtMatmul(s), s);
  }
  shapes.set('512×512·512×512', { batch: 1, sharedA: false, sharedB: false, M: 512, N: 512, K: 512, transA: false, transB: false });
  const tileRates: Array<{ shape: string; gflops: number; tile: number }> = [];
  for (const [name, s] of shapes) tileRates.push({ shape: name, ...(await bestMatmulRate(ctx, s)) });
  const addGbps = await addBandwidth(ctx);
  mmLoad.push(load());
  const bestTile = tileRates.reduce((a, b) => (b.gflops > a.gflops ? b : a));

  const torch = opts.torch ? (console.error(`PyTorch, load ${f2(load())}…`), torchPeer(cfg, batch, opts.samples, opts.cases)) : null;

  say(`### ${opts.config} config, batch ${batch}, ${cfg.imageSize}×${cfg.imageSize}, T = ${cfg.timesteps}`);
  say();
  say(`\`nice -n 15 npx tsx bench/lrdif-ceiling.ts --config ${opts.config}${opts.cases.length === 1 ? ` --stage ${opts.cases[0] === 'stage1' ? 1 : opts.cases[0] === 'stage2' ? 2 : 'infer'}` : ''}\`, ${started}, ${ctx.adapter.summary}; ` +
    `${opts.samples} profiled and ${opts.samples} timed runs per step after two warm-up runs (medians). Load average (1 min) is given beside each figure: on a loaded machine every absolute figure is inflated.`);
  say();
  say(`Best matmul tile, GPU time, alone (load ${f2(mmLoad[0])}–${f2(mmLoad[1])}): ` + tileRates.map((t) => `${t.shape} ${f1(t.gflops)} GFLOP/s (${t.tile} rows)`).join('; ') + '.');
  say(`Same-shape add of 4M floats: ${f1(addGbps)} GB/s.` + (torch?.mm512_gflops ? ` PyTorch's own 512³ matmul on this CPU: ${f1(torch.mm512_gflops)} GFLOP/s.` : ''));
  say();
  const summary: string[] = [];
  for (const [c, m] of measured) {
    const { rows, memBest } = analyse(m);
    const bw = Math.max(memBest.gbps, addGbps);
    const bwWhere = memBest.gbps >= addGbps ? memBest.where : 'same-shape add, 4M floats';
    const mmRow = rows.find((r) => r.family === 'matmul (linear, 1×1 conv)')!;
    if (bestTile.gflops > mmRow.bestRate) (mmRow.bestRate = bestTile.gflops), (mmRow.bestWhere = `best tile alone: ${bestTile.shape}, ${bestTile.tile} rows`);
    const peak = Math.max(...rows.map((r) => r.bestRate));
    const gpuTotal = rows.reduce((a, r) => a + r.gpuMs, 0);
    const flopsTotal = rows.reduce((a, r) => a + r.flops, 0);
    const memTotal = rows.reduce((a, r) => a + r.memBytes, 0);
    const boundA = (r: FamilyRow) => (r.flops > 0 ? r.flops / r.bestRate / 1e6 : 0) + r.memBytes / bw / 1e6;
    const boundB = (r: FamilyRow) => r.flops / peak / 1e6 + r.memBytes / bw / 1e6;
    const totA = rows.reduce((a, r) => a + boundA(r), 0);
    const totB = rows.reduce((a, r) => a + boundB(r), 0);
    const pt = torch?.cases?.[c];
    const name = c === 'stage1' ? 'stage-1 training step' : c === 'stage2' ? 'stage-2 training step' : 'inference';
    say(`#### ${opts.config} ${name}`);
    say();
    say(`${m.records.length} dispatches, ${f2(flopsTotal / 1e9)} GFLOP, ${f1(memTotal / 1e6)} MB bound by the memory-bound kernels; ` +
      `lrdif ${f1(m.wallMs)} ms wall, ${f1(m.cpuMs)} ms CPU, Σ GPU time ${f1(gpuTotal)} ms (profiled, one pass per dispatch) (load ${m.load.map(f2).join(' → ')}); ` +
      (pt ? `PyTorch ${f1(pt.median_ms)} ms wall, ${f1(pt.cpu_median_ms)} ms CPU (load ${torch!.load.map(f2).join(' → ')}), ${f1(flopsTotal / pt.median_ms / 1e6)} GFLOP/s on these FLOPs.` : `PyTorch: ${torch?.error ?? 'not run (--no-torch)'}.`));
    say();
    say('| family | dispatches | GFLOP | MB (memory-bound) | GPU ms as run | GFLOP/s as run | best GFLOP/s (where) | bound A ms | bound B ms | left (as run − A) ms |');
    say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      if (r.dispatches === 0) continue;
      say(`| ${r.family} | ${r.dispatches} | ${r.flops ? f2(r.flops / 1e9) : ''} | ${r.memBytes ? f1(r.memBytes / 1e6) : ''} | ${f1(r.gpuMs)} | ${r.flops ? f1(r.flops / r.computeMs / 1e6) : ''} | ${r.flops ? `${f1(r.bestRate)} (${r.bestWhere})` : ''} | ${f1(boundA(r))} | ${f1(boundB(r))} | ${f1(r.gpuMs - boundA(r))} |`);
    }
    say(`| **all** | ${m.records.length} | ${f2(flopsTotal / 1e9)} | ${f1(memTotal / 1e6)} | ${f1(gpuTotal)} | ${f1(flopsTotal / rows.reduce((a, r) => a + r.computeMs, 0) / 1e6)} | | ${f1(totA)} | ${f1(totB)} | ${f1(gpuTotal - totA)} |`);
    say();
    say(`Memory-bound kernels at the best bandwidth measured, ${f1(bw)} GB/s (${bwWhere}). Bound B puts every FLOP at ${f1(peak)} GFLOP/s, the best matmul rate. Wall − Σ GPU time: ${f1(m.wallMs - gpuTotal)} ms.`);
    say();
    summary.push(
      `| ${opts.config} ${name} | ${f1(m.wallMs)} | ${f1(m.cpuMs)} | ${pt ? f1(pt.median_ms) : '–'} | ${pt ? f1(pt.cpu_median_ms) : '–'} | ${pt ? f2(pt.median_ms / m.wallMs) : '–'}× | ${f1(gpuTotal)} | ${f1(totA)} | ${pt ? f2(pt.median_ms / totA) : '–'}× | ${f1(totB)} | ${pt ? f2(pt.median_ms / totB) : '–'}× |`,
    );
  }
  say(`#### Summary (${opts.config})`);
  say();
  say('| step | lrdif wall ms | lrdif CPU ms | PyTorch wall ms | PyTorch CPU ms | ratio now (wall) | lrdif Σ GPU ms | bound A ms | best ratio A | bound B ms | best ratio B |');
  say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of summary) say(s);
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
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
