/**
 * In-process A/B of one LRDif case (bench/lrdif.bench.ts's steps) under two settings, for a
 * machine whose load comes and goes: A and B alternate (ABBA order), each timed call is one
 * step followed by its readback, and the figures are medians — of each side's wall and process
 * CPU time per step, and of the pairwise ratio A/B (a pair runs back to back, so the ratio
 * survives slow drifts of the machine's load). With --profile, each side's GPU time per kernel
 * from timestamp queries (one step each, after the timed ones).
 *
 *   npx tsx bench/lrdif-ab.ts --config tiny --batch 16 --case stage1 --reps 8 \
 *       --a '{"polling":"spin"}' --b '{"polling":"paced"}'
 *   npx tsx bench/lrdif-ab.ts --config reference --batch 8 --case stage1 \
 *       --a '{"tuning":{"matmul":{"path":"portable"}}}' --b '{}' --profile
 *
 * --settle N: N untimed steps of a side before each of its timed ones, so the timed step starts
 * from the pool state that side's own steps leave (with the default ABBA order a step starts
 * where the other side left the free buffers, so cached bind groups rarely match).
 *
 * --kernels text (with --profile): also each side's dispatches and GPU time of the kernels
 * whose name contains the text (e.g. 'reduce:', 'layernorm:').
 *
 * A side is a JSON object: `polling` ('paced' | 'spin', dawn.node's waits), `tuning` (a
 * `ctx.setTuning` patch), `bindGroupCache` (ctx.bindGroupCacheSize), `collectGarbage` (false: no
 * full collection every BIND_GROUPS_PER_COLLECTION new bind groups), `canonicalBufferOrder`
 * (ctx.canonicalBufferOrder).
 */
import { parseArgs } from 'node:util';
import { engine, initNode, setDawnPolling, type DawnPolling, type Tensor, type TuningPatch } from '../src/node.js';
import { lrdifCases, type CaseName } from './lrdif.bench.js';

interface Side {
  polling?: DawnPolling;
  tuning?: TuningPatch;
  bindGroupCache?: number;
  collectGarbage?: boolean;
  canonicalBufferOrder?: boolean;
}

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'tiny' },
    batch: { type: 'string' },
    case: { type: 'string', default: 'stage1' },
    reps: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    a: { type: 'string', default: '{}' },
    b: { type: 'string', default: '{}' },
    profile: { type: 'boolean', default: false },
    kernels: { type: 'string' },
    settle: { type: 'string', default: '0' },
  },
});
const config = values.config as 'tiny' | 'reference';
if (config !== 'tiny' && config !== 'reference') throw new Error(`--config must be tiny or reference, got ${values.config}`);
const batch = Number(values.batch ?? (config === 'tiny' ? 16 : 8));
const which = values.case as CaseName;
if (!['stage1', 'stage2', 'infer'].includes(which)) throw new Error(`--case must be stage1, stage2 or infer, got ${which}`);
const sides: Record<'A' | 'B', Side> = { A: JSON.parse(values.a!) as Side, B: JSON.parse(values.b!) as Side };

const ctx = await initNode();
const cases = lrdifCases(config, batch);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function under<T>(side: Side, fn: () => Promise<T>): Promise<T> {
  const polling = side.polling ? setDawnPolling(side.polling) : null;
  const restore = ctx.setTuning(side.tuning ?? {});
  const [cache, collect, canonical] = [ctx.bindGroupCacheSize, ctx.collectGarbage, ctx.canonicalBufferOrder];
  if (side.bindGroupCache !== undefined) ctx.bindGroupCacheSize = side.bindGroupCache;
  if (side.canonicalBufferOrder !== undefined) ctx.canonicalBufferOrder = side.canonicalBufferOrder;
  // the order the other side's last read left the free buffers in is not this side's
  if (ctx.canonicalBufferOrder) ctx.pool.canonicalize();
  if (side.collectGarbage === false) ctx.collectGarbage = null;
  try {
    return await fn();
  } finally {
    restore();
    [ctx.bindGroupCacheSize, ctx.collectGarbage, ctx.canonicalBufferOrder] = [cache, collect, canonical];
    if (polling) setDawnPolling(polling);
  }
}

async function once(): Promise<void> {
  const r: Tensor = cases.runs[which]();
  await r.data();
  r.dispose();
  engine.clearTape();
}

// bind groups created per timed step (a cache miss each)
let created = 0;
const createBindGroup = ctx.device.createBindGroup.bind(ctx.device);
ctx.device.createBindGroup = (d: GPUBindGroupDescriptor) => {
  created++;
  return createBindGroup(d);
};

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  const n = s.length;
  return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

for (let i = 0; i < Number(values.warmup); i++) for (const s of ['A', 'B'] as const) await under(sides[s], once);
const wall: Record<'A' | 'B', number[]> = { A: [], B: [] };
const cpu: Record<'A' | 'B', number[]> = { A: [], B: [] };
const groups: Record<'A' | 'B', number[]> = { A: [], B: [] };
for (let i = 0; i < Number(values.reps); i++) {
  for (const s of i % 2 ? (['B', 'A'] as const) : (['A', 'B'] as const)) {
    await under(sides[s], async () => {
      for (let k = 0; k < Number(values.settle); k++) await once();
      await ctx.sync();
      const t = performance.now();
      const c = cpuMs();
      created = 0;
      await once();
      wall[s].push(performance.now() - t);
      cpu[s].push(cpuMs() - c);
      groups[s].push(created);
    });
  }
}
console.log(`${config} ${which}, batch ${batch}, ${values.reps} pairs; A = ${values.a}, B = ${values.b}`);
for (const s of ['A', 'B'] as const) {
  console.log(
    `${s}: wall median ${median(wall[s]).toFixed(1)} ms, cpu median ${median(cpu[s]).toFixed(1)} ms, bind groups created ${median(groups[s])}; walls ${wall[s].map((v) => v.toFixed(0)).join(' ')}`,
  );
}
console.log(`A/B wall ratio, median of pairs: ${median(wall.A.map((v, i) => v / wall.B[i])).toFixed(3)}; cpu ratio ${median(cpu.A.map((v, i) => v / cpu.B[i])).toFixed(3)}`);

if (values.profile && ctx.canProfile) {
  for (const s of ['A', 'B'] as const) {
    await under(sides[s], async () => {
      await ctx.sync();
      ctx.startProfile();
      const r = cases.runs[which]();
      const prof = await ctx.stopProfile();
      await r.data();
      r.dispose();
      engine.clearTape();
      const by = new Map<string, number>();
      for (const p of prof) by.set(p.kernel, (by.get(p.kernel) ?? 0) + p.ms);
      const total = [...by.values()].reduce((p, q) => p + q, 0);
      const top = [...by].sort((p, q) => q[1] - p[1]).slice(0, 12);
      console.log(
        `${s}: GPU time ${total.toFixed(1)} ms in ${prof.length} dispatches; ${top.map(([k, v]) => `${k} ${v.toFixed(1)} (${((100 * v) / total).toFixed(1)}%)`).join(', ')}`,
      );
      if (values.kernels) {
        // the kernels (shader:entry{constants}) whose name contains --kernels, summed
        const picked = prof.filter((p) => p.kernel.includes(values.kernels!));
        const ms = picked.reduce((a, p) => a + p.ms, 0);
        console.log(`${s}: kernels matching '${values.kernels}': ${picked.length} dispatches, ${ms.toFixed(1)} ms GPU (${((100 * ms) / total).toFixed(1)}%)`);
      }
    });
  }
}
cases.dispose();
ctx.dispose();
